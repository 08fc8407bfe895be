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

from producer.messages import Chunk, Job, JobSpec

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
    }
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


def _valid_spec() -> st.SearchStrategy[JobSpec]:
    return st.builds(
        JobSpec,
        job_id=st.text(min_size=3, max_size=20) | st.just("j" * 300),
        ref=st.text(min_size=1, max_size=30) | st.just("r" * 4096),
        meta=json_meta,
    )


valid_jobs = st.builds(
    Job,
    job_id=st.text(min_size=3, max_size=20) | st.just("j" * 300),
    ref=st.text(min_size=1, max_size=30) | st.just("r" * 4096),
    meta=json_meta,
    batch_id=st.text(min_size=1, max_size=20) | st.just("b" * 128),
    top_k=st.none() | st.integers(min_value=0),
    enqueued_at=finite,
)
valid_chunks = st.builds(
    Chunk,
    batch_id=st.text(min_size=1, max_size=20) | st.just("b" * 128),
    chunk_id=st.text(min_size=1, max_size=20) | st.just("c" * 128),
    jobs=st.lists(_valid_spec(), min_size=1, max_size=8),
    top_k=st.none() | st.integers(min_value=0),
    enqueued_at=finite,
)

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
