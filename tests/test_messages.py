"""Property tests of the task message schema (`producer.messages`): Job, Chunk and JobSpec.

- Whatever a message carries, validation either gives a model or raises pydantic's
  ``ValidationError``, never another exception (the worker catches only that one).
- A valid model survives the trip through JSON that producers and workers make.
- ``Chunk.expand`` keeps each job's id, reference and meta, in order.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from producer.messages import (
    MAX_META_BYTES,
    MAX_META_DEPTH,
    Chunk,
    Job,
    JobSpec,
    check_top_k,
)
from producer.records import ResultRecord
from producer.windowing import WindowOptions

#: Quick, reproducible runs (as in tests/test_audio.py), writing no example database.
FAST = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# --- strategies ----------------------------------------------------------------------------

#: Finite numbers: JSON (RFC 8259) has no NaN or infinity.
finite = st.floats(allow_nan=False, allow_infinity=False)
#: Values JSON can carry.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | finite | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
#: Anything a Python caller (or a non-JSON decoder) might hand over.
anything = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.binary(max_size=10)
    | st.complex_numbers()
    | st.just(object()),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.frozensets(st.integers(), max_size=3)
        | st.dictionaries(st.text(max_size=8) | st.integers(), inner, max_size=3)
    ),
    max_leaves=8,
)
#: Strings near the schema's length limits, and ordinary ones.
short_text = st.text(max_size=12)
ids = st.text(alphabet="abcdef0123456789:", max_size=8) | st.builds(
    lambda n: "b" * n, st.sampled_from([2, 3, 127, 128, 129, 300, 301])
)
refs = st.text(max_size=30) | st.sampled_from(["", "a.wav", "s3://b/k", "x" * 4097])
json_meta = st.none() | st.dictionaries(st.text(max_size=8), json_values, max_size=4)


def _plausible(field: str) -> st.SearchStrategy[Any]:
    """Values of roughly the right kind for a field, often just across its limits."""
    choices: dict[str, st.SearchStrategy[Any]] = {
        "job_id": ids,
        "batch_id": ids,
        "chunk_id": ids,
        "ref": refs,
        "meta": json_meta | st.dictionaries(st.integers(), anything, max_size=2),
        "top_k": st.none() | st.integers(-2, 50) | st.floats() | st.sampled_from(["3", "x", True]),
        "enqueued_at": st.floats() | st.integers() | st.sampled_from(["1.5", "now", None]),
        "window": st.none() | st.deferred(lambda: _dicts(WindowOptions)) | anything,
    }
    if field in WindowOptions.model_fields:
        return st.none() | st.floats() | st.integers(-1, 10) | st.sampled_from(["mean", "1", True])
    if field == "jobs":
        return st.lists(_dicts(JobSpec), max_size=4) | anything
    return choices[field]


def _dicts(model: type[BaseModel]) -> st.SearchStrategy[dict[Any, Any]]:
    """Dicts with some of the model's fields (plausible or arbitrary values) and stray keys."""
    fields = {
        name: _plausible(name) | anything for name in model.model_fields
    }  # every field optional: a missing one must be a ValidationError too
    known = st.fixed_dictionaries({}, optional=fields)
    stray = st.dictionaries(short_text | st.integers(), anything, max_size=2)
    return st.builds(lambda a, b: {**b, **a}, known, stray)


#: Batch ids of the grammar (producer/ids.py), short and at the limit.
batch_ids = st.from_regex(r"[A-Za-z0-9_.-]{1,20}", fullmatch=True).filter(
    lambda b: b not in (".", "..")
) | st.just("b" * 128)
#: Job indices as written: no leading zeros, at most 18 digits.
indices = st.integers(min_value=0, max_value=10**18 - 1)
#: Times a message may carry: finite, not before 1970.
sent_at = st.floats(min_value=0, allow_nan=False, allow_infinity=False)


def _valid_spec(batch: st.SearchStrategy[str] = batch_ids) -> st.SearchStrategy[JobSpec]:
    return st.builds(
        JobSpec,
        job_id=st.builds("{}:{}".format, batch, indices),
        ref=st.text(min_size=1, max_size=30) | st.just("r" * 4096),
        meta=json_meta,
    )


@st.composite
def _valid_job(draw: st.DrawFn) -> Job:
    batch = draw(batch_ids)
    return Job(
        job_id=f"{batch}:{draw(indices)}",
        ref=draw(st.text(min_size=1, max_size=30) | st.just("r" * 4096)),
        meta=draw(json_meta),
        batch_id=batch,
        top_k=draw(st.none() | st.integers(min_value=0)),
        enqueued_at=draw(sent_at),
    )


@st.composite
def _valid_chunk(draw: st.DrawFn) -> Chunk:
    batch = draw(batch_ids)
    return Chunk(
        batch_id=batch,
        chunk_id=draw(batch_ids),
        jobs=draw(st.lists(_valid_spec(st.just(batch)), min_size=1, max_size=8)),
        top_k=draw(st.none() | st.integers(min_value=0)),
        enqueued_at=draw(sent_at),
    )


valid_jobs = _valid_job()
valid_chunks = _valid_chunk()

MODELS: list[type[BaseModel]] = [JobSpec, Job, Chunk]
VALID: dict[type[BaseModel], st.SearchStrategy[Any]] = {
    JobSpec: _valid_spec(),
    Job: valid_jobs,
    Chunk: valid_chunks,
}


@st.composite
def _mutated(draw: st.DrawFn, model: type[BaseModel]) -> dict[Any, Any]:
    """A valid message's JSON with up to two edits: a key dropped, replaced or added."""
    data: dict[Any, Any] = draw(VALID[model]).model_dump(mode="json")
    for _ in range(draw(st.integers(0, 2))):
        key = draw(st.sampled_from(sorted(model.model_fields)) | short_text)
        if key in data and draw(st.booleans()):
            del data[key]
        else:
            plausible = _plausible(key) if key in model.model_fields else st.nothing()
            data[key] = draw(plausible | anything)
    return data


# --- properties ----------------------------------------------------------------------------


def _validate_or_refuse(model: type[BaseModel], data: Any) -> None:
    # ValidationError is the one exception the worker expects; anything else fails the test.
    with contextlib.suppress(ValidationError):
        model.model_validate(data)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@FAST
@given(data=st.data())
def test_any_dict_validates_or_raises_validation_error(
    model: type[BaseModel], data: st.DataObject
) -> None:
    _validate_or_refuse(model, data.draw(_dicts(model) | _mutated(model)))


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@FAST
@given(value=anything)
def test_anything_at_all_validates_or_raises_validation_error(
    model: type[BaseModel], value: Any
) -> None:
    _validate_or_refuse(model, value)


def test_the_worker_wrapping_of_a_missing_job_is_a_validation_error() -> None:
    """worker.service.tasks validates ``kwargs.get("job")``, None when the key is missing."""
    with pytest.raises(ValidationError):
        Job.model_validate(None)


@FAST
@given(job=valid_jobs)
def test_a_job_survives_the_json_round_trip(job: Job) -> None:
    dumped = job.model_dump(mode="json")
    assert Job.model_validate(dumped) == job
    assert Job.model_validate(json.loads(json.dumps(dumped))) == job  # what kombu sends
    assert Job.model_validate_json(job.model_dump_json()) == job


@FAST
@given(spec=_valid_spec())
def test_a_job_spec_survives_the_json_round_trip(spec: JobSpec) -> None:
    assert JobSpec.model_validate(spec.model_dump(mode="json")) == spec
    assert JobSpec.model_validate_json(spec.model_dump_json()) == spec


@FAST
@given(chunk=valid_chunks)
def test_a_chunk_survives_the_json_round_trip(chunk: Chunk) -> None:
    dumped = chunk.model_dump(mode="json")
    assert Chunk.model_validate(dumped) == chunk
    assert Chunk.model_validate(json.loads(json.dumps(dumped))) == chunk
    assert Chunk.model_validate_json(chunk.model_dump_json()) == chunk


@FAST
@given(chunk=valid_chunks)
def test_expanding_a_chunk_keeps_its_jobs_in_order(chunk: Chunk) -> None:
    jobs = chunk.expand()
    assert [j.job_id for j in jobs] == [s.job_id for s in chunk.jobs]
    assert [j.ref for j in jobs] == [s.ref for s in chunk.jobs]
    assert [j.meta for j in jobs] == [s.meta for s in chunk.jobs]
    for job in jobs:
        assert (job.batch_id, job.top_k, job.enqueued_at) == (
            chunk.batch_id,
            chunk.top_k,
            chunk.enqueued_at,
        )
    # Each expanded job is itself a valid message.
    assert [Job.model_validate(j.model_dump(mode="json")) for j in jobs] == jobs


# --- the boundary: ids, top_k, times and meta -------------------------------------------------


@pytest.mark.parametrize(
    "job_id",
    ["abc", "plainjob-1", "B:x:0", "B:007", "rt*gl?b[x]:0", "B:0\n", "B:-1", ":0", "B:", "B:1e3"],
)
def test_job_ids_off_the_grammar_are_refused(job_id: str) -> None:
    batch = job_id.rpartition(":")[0] or "B"
    with pytest.raises(ValidationError):
        Job(job_id=job_id, batch_id=batch, ref="a.wav")
    with pytest.raises(ValidationError):
        JobSpec(job_id=job_id, ref="a.wav")


def test_a_job_id_must_name_its_own_batch() -> None:
    with pytest.raises(ValidationError, match="another batch"):
        Job(job_id="X:0", batch_id="Y", ref="a.wav")
    spec = {"job_id": "X:0", "ref": "a.wav"}
    with pytest.raises(ValidationError, match="another batch"):
        Chunk.model_validate({"batch_id": "Y", "chunk_id": "0", "jobs": [spec]})
    assert Job(job_id="Y:12", batch_id="Y", ref="a.wav").job_id == "Y:12"


@pytest.mark.parametrize("top_k", [True, False, -1, 1.5, "3"])
def test_top_k_is_a_json_integer_of_zero_or_more(top_k: object) -> None:
    with pytest.raises(ValidationError):
        Job.model_validate({"job_id": "B:0", "batch_id": "B", "ref": "a", "top_k": top_k})
    with pytest.raises(ValidationError):
        check_top_k(top_k)
    assert check_top_k(0) == 0 and check_top_k(None) is None


@pytest.mark.parametrize("sent", [-1.0, -1e308, float("inf"), float("nan")])
def test_enqueued_at_is_a_finite_time_after_1970(sent: float) -> None:
    with pytest.raises(ValidationError):
        Job(job_id="B:0", batch_id="B", ref="a", enqueued_at=sent)


def _nested(depth: int) -> dict[str, Any]:
    value: Any = 1
    for _ in range(depth - 1):
        value = [value]
    return {"x": value}


def test_meta_is_capped_in_depth_and_size_so_every_record_reads_back() -> None:
    """The deepest and largest meta accepted survives a record's JSON round trip."""
    Job(job_id="B:0", batch_id="B", ref="a", meta=_nested(MAX_META_DEPTH))
    for meta in (_nested(MAX_META_DEPTH + 1), _nested(300), {"x": "y" * MAX_META_BYTES}):
        with pytest.raises(ValidationError):
            Job(job_id="B:0", batch_id="B", ref="a", meta=meta)
    widest = {"x": "y" * (MAX_META_BYTES - 16)}
    deepest = _nested(MAX_META_DEPTH)
    for meta in (widest, deepest):
        record = ResultRecord(input="a", status="ok", labels=[], meta=meta)
        assert ResultRecord.model_validate_json(record.to_json()).meta == meta
