"""The third-party internals earmark leans on, checked where they live (no services, no worker).

pyproject.toml stops each such dependency below its next release that may move them. When a
test here fails, the internal it names moved: adapt the earmark module it names, then revisit
the pin it quotes. Each test reads the real class or module, so it fails when the internal goes.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import chain
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from producer.broker import transport_options
from producer.settings import Settings
from producer.state.keys import UNACKED_INDEX_KEY, UNACKED_KEY

ROOT = Path(__file__).resolve().parent.parent
#: The dependencies pinned for their internals (pyproject.toml says which and why).
PINNED = ("typer", "celery", "kombu", "celery-batches", "prometheus-client")


def pin(package: str) -> str:
    """The requirement pyproject.toml gives `package`, as written there."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"].values()
    for requirement in chain(project["dependencies"], *extras):
        name = re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0]
        if name.lower().replace("_", "-") == package:
            return str(requirement)
    raise LookupError(f"{package} is not a dependency in pyproject.toml")


def moved(internal: str, package: str, user: str) -> str:
    """The failure message: what moved, who uses it, which pin to revisit."""
    return (
        f"{internal} is gone or changed shape; {user} relies on it. Adapt it, then revisit "
        f"the pin {pin(package)!r} in pyproject.toml"
    )


def internal(module: str, package: str, user: str) -> ModuleType:
    """`module` imported, or a failure that names it and the pin."""
    try:
        return importlib.import_module(module)
    except ImportError:
        pytest.fail(moved(f"module {module}", package, user))


def parameters(function: Callable[..., Any]) -> list[str]:
    """The names of a callable's parameters, in order."""
    return list(inspect.signature(function).parameters)


@pytest.mark.parametrize("package", PINNED)
def test_each_coupled_dependency_has_an_upper_bound(package: str) -> None:
    assert "<" in pin(package), f"{package} lost its upper bound; see its comment in pyproject"


# typer: producer/cli/root.py


def test_typer_vendored_click_raises_the_usage_errors_the_cli_catches() -> None:
    user = "producer/cli/root.py (main, usage_error)"
    exceptions = internal("typer._click.exceptions", "typer", user)
    import typer

    click_exception = getattr(exceptions, "ClickException", None)
    no_args = getattr(exceptions, "NoArgsIsHelpError", None)
    assert click_exception and no_args, moved("typer._click.exceptions' classes", "typer", user)
    app = typer.Typer(no_args_is_help=True, add_completion=False)

    @app.command()
    def one(n: int = 1) -> None:
        """A command with an option."""

    @app.command()
    def two() -> None:
        """A second command, so that `one` is a subcommand."""

    with pytest.raises(no_args):  # a bare command group: its help
        app([], standalone_mode=False)
    with pytest.raises(click_exception, match="bogus"):  # a bad flag: a usage error
        app(["one", "--bogus"], standalone_mode=False)


# celery: worker/service/app.py, consumer.py, events.py, acked_batches.py


def test_celerys_command_takes_app_as_its_first_option() -> None:
    from celery.bin.celery import celery

    internal_name = "celery.bin.celery.celery.params[0] (the --app option)"
    user = "worker/service/app.py (run_worker sets its default)"
    assert celery.params and celery.params[0].name == "app", moved(internal_name, "celery", user)


CONSUMER_HOOKS = {
    "create_task_handler": ["self", "promise"],
    "on_close": ["self"],
    "on_decode_error": ["self", "message", "exc"],
    "on_unknown_message": ["self", "body", "message"],
    "on_unknown_task": ["self", "body", "message", "exc"],
    "on_invalid_task": ["self", "body", "message", "exc"],
}


@pytest.mark.parametrize(("hook", "expected"), CONSUMER_HOOKS.items())
def test_celerys_consumer_keeps_the_hooks_earmark_overrides(hook: str, expected: list[str]) -> None:
    from celery.worker.consumer import Consumer

    method = getattr(Consumer, hook, None)
    shape = f"celery.worker.consumer.Consumer.{hook}({', '.join(expected[1:])})"
    user = "worker/service/consumer.py (EarmarkConsumer)"
    assert method is not None and parameters(method) == expected, moved(shape, "celery", user)


def test_celerys_consumer_sets_the_errors_earmark_lets_through() -> None:
    from celery.worker.consumer import Consumer

    source = inspect.getsource(Consumer.__init__)
    shape = "Consumer.connection_errors and .channel_errors, set in Consumer.__init__"
    user = "worker/service/consumer.py (create_task_handler)"
    assert "self.connection_errors =" in source, moved(shape, "celery", user)
    assert "self.channel_errors =" in source, moved(shape, "celery", user)


#: What earmark reads or sets on a Celery request: (attribute, the earmark module).
REQUEST_ATTRIBUTES = [
    ("worker_pid", "worker/service/events.py (started sets it)"),
    ("time_start", "worker/service/events.py (started sets it)"),
    ("send_event", "worker/service/events.py"),
    ("request_dict", "worker/service/events.py (received)"),
    ("argsrepr", "worker/service/events.py (received)"),
    ("kwargsrepr", "worker/service/events.py (received)"),
    ("acknowledge", "worker/service/acked_batches.py (on_return)"),
    ("reject", "worker/service/acked_batches.py (requeue)"),
    ("message", "worker/service/app.py (hold reads its delivery tag)"),
    ("task", "worker/service/app.py (hold)"),
]


@pytest.mark.parametrize(("attribute", "user"), REQUEST_ATTRIBUTES)
def test_celerys_request_has_what_earmark_reads_and_sets(attribute: str, user: str) -> None:
    from celery.worker.request import Request

    shape = f"celery.worker.request.Request.{attribute}"
    assert hasattr(Request, attribute), moved(shape, "celery", user)
    if attribute == "reject":
        assert "requeue" in parameters(Request.reject), moved(f"{shape}(requeue=)", "celery", user)


def test_the_prefork_pool_takes_the_callbacks_acked_batches_passes() -> None:
    from billiard.pool import Pool

    user = "worker/service/acked_batches.py (flush, through Celery's pool)"
    for name in ("callback", "error_callback", "accept_callback"):
        shape = f"billiard.pool.Pool.apply_async({name}=), which Celery {pin('celery')!r} pins"
        assert name in parameters(Pool.apply_async), moved(shape, "celery", user)


# celery-batches: worker/service/acked_batches.py

BATCHES_USER = "worker/service/acked_batches.py (AckedBatches)"


@pytest.mark.parametrize("attribute", ["_buffer", "_tref", "_pool"])
def test_celery_batches_keeps_the_state_acked_batches_touches(attribute: str) -> None:
    from celery_batches import Batches

    shape = f"celery_batches.Batches().{attribute}"
    assert attribute in vars(Batches()), moved(shape, "celery-batches", BATCHES_USER)


def test_celery_batches_starts_its_timer_and_pool_in_strategy() -> None:
    from celery_batches import Batches

    source = inspect.getsource(Batches.Strategy)
    for line in ("self._pool = consumer.pool", "if self._tref is None"):
        shape = f"Batches.Strategy's `{line}` (the timer restarted, the pool flush runs on)"
        assert line in source, moved(shape, "celery-batches", BATCHES_USER)


def test_celery_batches_keeps_the_signatures_acked_batches_calls() -> None:
    import celery_batches

    trace = internal("celery_batches.trace", "celery-batches", BATCHES_USER)
    expected: dict[str, tuple[Callable[..., Any] | None, list[str]]] = {
        "Batches.Strategy": (celery_batches.Batches.Strategy, ["self", "task", "app", "consumer"]),
        "Batches.flush": (celery_batches.Batches.flush, ["self", "requests"]),
        "consume_queue": (celery_batches.consume_queue, ["queue"]),
        "SimpleRequest.from_request": (celery_batches.SimpleRequest.from_request, ["request"]),
        "trace.apply_batches_task": (
            getattr(trace, "apply_batches_task", None),
            ["task", "args", "loglevel", "logfile"],
        ),
    }
    for name, (function, names) in expected.items():
        shape = f"celery_batches.{name}({', '.join(names)})"
        assert function is not None, moved(shape, "celery-batches", BATCHES_USER)
        assert parameters(function) == names, moved(shape, "celery-batches", BATCHES_USER)


# kombu: worker/service/heartbeat.py, sweeper.py; producer/state/keys.py, producer/broker.py

KOMBU_USER = "worker/service/heartbeat.py and sweeper.py, through producer/state/keys.py"


def test_kombus_redis_transport_names_its_unacked_keys_as_earmark_does() -> None:
    from kombu.transport.redis import Channel

    for attribute, ours in (("unacked_key", UNACKED_KEY), ("unacked_index_key", UNACKED_INDEX_KEY)):
        shape = f"kombu.transport.redis.Channel.{attribute} == {ours!r}"
        assert getattr(Channel, attribute, None) == ours, moved(shape, "kombu", KOMBU_USER)


def test_kombus_redis_transport_reads_every_option_earmark_sets() -> None:
    from kombu.transport.redis import Channel

    unread = set(transport_options(Settings())) - set(Channel.from_transport_options)
    shape = f"kombu.transport.redis.Channel.from_transport_options (unread: {sorted(unread)})"
    assert not unread, moved(shape, "kombu", "producer/broker.py (transport_options)")


class _Recorder:
    """A Redis client and pipeline in one that keeps the commands sent to it."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, tuple[Any, ...]]] = []

    def pipeline(self) -> _Recorder:
        return self

    def execute(self) -> list[Any]:
        return []

    def __getattr__(self, command: str) -> Callable[..., _Recorder]:
        def send(*args: Any) -> _Recorder:
            self.commands.append((command, args))
            return self

        return send


class _Channel:
    """Just what kombu's Redis QoS asks of its channel while it parks a message."""

    unacked_key = UNACKED_KEY
    unacked_index_key = UNACKED_INDEX_KEY

    def __init__(self, client: _Recorder) -> None:
        self.client = client

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[_Recorder]:
        yield self.client


class _Message:
    def __init__(self, raw: dict[str, Any]) -> None:
        self._raw = raw
        self.delivery_info = {"exchange": "", "routing_key": "earmark.interactive"}


def test_kombus_redis_transport_parks_a_delivery_as_earmark_reads_it() -> None:
    """A delivered message is scored by delivery time in ``unacked_index`` (the heartbeat
    re-scores it) and kept as [payload, exchange, routing_key] in ``unacked`` (the sweeper
    reads the payload)."""
    from kombu.transport.redis import QoS

    from worker.service.sweeper import _unacked_payload

    payload = {"headers": {"kwargsrepr": "b:0"}, "body": "e30="}
    client = _Recorder()
    qos = QoS(_Channel(client))  # type: ignore[no-untyped-call]
    qos.append(_Message(payload), "tag-1")  # type: ignore[no-untyped-call]
    qos.restore_at_shutdown = False  # nothing to hand back when it is collected
    commands = {command: args for command, args in client.commands}
    shape = "kombu.transport.redis.QoS.append: ZADD unacked_index {tag: time}, HSET unacked"
    assert set(commands) >= {"zadd", "hset"}, moved(shape, "kombu", KOMBU_USER)
    index, scores = commands["zadd"]
    assert index == UNACKED_INDEX_KEY and isinstance(scores["tag-1"], float), moved(
        shape, "kombu", KOMBU_USER
    )
    key, tag, entry = commands["hset"]
    assert (key, tag) == (UNACKED_KEY, "tag-1"), moved(shape, "kombu", KOMBU_USER)
    assert json.loads(entry) == [payload, "", "earmark.interactive"], moved(
        "the [payload, exchange, routing_key] entries of kombu's unacked hash", "kombu", KOMBU_USER
    )
    assert _unacked_payload(entry) == payload


# prometheus-client: worker/service/metrics_values.py, metrics_server.py

METRICS_USER = "worker/service/metrics_values.py (FolderValue)"


def test_prometheus_values_are_what_folder_value_implements() -> None:
    from worker.service.metrics_values import FolderValue

    values = internal("prometheus_client.values", "prometheus-client", METRICS_USER)
    assert hasattr(values, "ValueClass"), moved(
        "prometheus_client.values.ValueClass", "prometheus-client", METRICS_USER
    )
    theirs = {name for name in vars(values.MutexValue) if not name.startswith("_")}
    missing = theirs - set(dir(FolderValue))
    shape = f"prometheus_client.values.MutexValue's methods (FolderValue lacks {sorted(missing)})"
    assert not missing, moved(shape, "prometheus-client", METRICS_USER)
    given = inspect.signature(values.MutexValue.__init__).parameters.values()
    named = {p.name for p in given if p.kind is not inspect.Parameter.VAR_KEYWORD}
    unknown = named - set(parameters(FolderValue.__init__))
    shape = f"the value class's constructor arguments (FolderValue lacks {sorted(unknown)})"
    assert not unknown, moved(shape, "prometheus-client", METRICS_USER)


def test_prometheus_multiprocess_reads_the_files_folder_value_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prometheus_client import CollectorRegistry, Counter, Gauge, values

    from worker.service.metrics_values import folder_value_class

    user = "worker/service/metrics_values.py (mmap_key, MmapedDict, the file names)"
    multiprocess = internal("prometheus_client.multiprocess", "prometheus-client", user)
    monkeypatch.setattr(values, "ValueClass", folder_value_class(tmp_path))
    registry = CollectorRegistry()
    Counter("pins_jobs", "Jobs.", registry=registry).inc(3)
    Gauge("pins_held", "Bytes held.", multiprocess_mode="livesum", registry=registry).set(5)
    collector = multiprocess.MultiProcessCollector(None, path=str(tmp_path))
    read = {s.name: s.value for metric in collector.collect() for s in metric.samples}
    shape = "prometheus_client's multiprocess files ({typ}_{mode}_{pid}.db, MmapedDict, mmap_key)"
    assert read.get("pins_jobs_total") == 3.0, moved(shape, "prometheus-client", user)
    assert read.get("pins_held") == 5.0, moved(shape, "prometheus-client", user)
    assert parameters(multiprocess.mark_process_dead) == ["pid", "path"], moved(
        "prometheus_client.multiprocess.mark_process_dead(pid, path)",
        "prometheus-client",
        "worker/service/metrics_server.py (PoolCollector)",
    )
