"""Deployment files, checked by the real tools that read them and against the settings.

- docker-compose.yml: `docker-compose config` (Debian's docker-compose) renders it, with and
  without deploy/minio.env; services, ports, URLs and variables agree with `Settings`.
- deploy/Dockerfile: stages, user, volume and port read from the file (Docker cannot run here).
- deploy/k8s: `kubectl kustomize` renders it (Debian's kubectl 1.20 and newer ones alike);
  kubernetes-validate checks the built-in kinds offline; the ScaledObjects are checked against
  KEDA's own schema (tests/data/keda, sources named there).
- deploy/systemd: `systemd-analyze verify`; deploy/prometheus.yml: `promtool check config`.
"""

from __future__ import annotations

import functools
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import pytest
import yaml

from producer.messages import BULK_QUEUE, INTERACTIVE_QUEUE
from producer.settings import Settings
from tests.tools import require_tool

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
KEDA = Path(__file__).parent / "data" / "keda"
#: The Kubernetes release whose schemas the manifests must pass (CronJob and PDB at v1).
KUBERNETES_VERSION = "1.30.0"
#: The settings an EARMARK_ variable sets (not those read under another name, like glibc's).
SETTINGS = {name for name, field in Settings.model_fields.items() if not field.validation_alias}
#: Variables other than settings that deployment files may set: the usual Hugging Face and AWS
#: ones (docs/settings.md), and the image's own.
OTHER_VARIABLES = {
    "HF_HOME",
    "HF_HUB_OFFLINE",
    "HF_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
    "PATH",
    "PYTHONDONTWRITEBYTECODE",
}
#: Variables a deployment file sets for its own shell script, which must then use them.
SCRIPT_VARIABLES = {"NIGHTLY_S3_PREFIX"}


#: The Debian package of each tool these tests run.
TOOL_PACKAGES = {
    "docker-compose": "docker-compose",
    "promtool": "prometheus",
    "kubectl": "kubernetes-client",
    "systemd-analyze": "systemd",
}


def _run(*command: str) -> str:
    """`command`'s stdout; the test fails with its stderr when it exits non-zero."""
    require_tool(command[0], package=TOOL_PACKAGES[command[0]])
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{shlex.join(command)}:\n{done.stderr}"
    return done.stdout


def _settings(variables: dict[str, Any]) -> Settings:
    """The Settings these EARMARK_ variables make (validated as the worker would)."""
    earmark = {
        k.removeprefix("EARMARK_").lower(): str(v)
        for k, v in variables.items()
        if k.startswith("EARMARK_")
    }
    assert set(earmark) <= SETTINGS, set(earmark) - SETTINGS
    return Settings.model_validate(earmark)


def _check_names(names: set[str], script: str = "") -> None:
    for name in names:
        if name.startswith("EARMARK_"):
            assert name.removeprefix("EARMARK_").lower() in SETTINGS, name
        elif name in SCRIPT_VARIABLES:
            assert f"${name}" in script, f"{name} is set but its script does not use it"
        else:
            assert name in OTHER_VARIABLES, name


def _earmark_only(environment: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in environment.items() if k.startswith("EARMARK_")}


# --- the commands they run ---------------------------------------------------------------------


def _cli_options() -> dict[str, set[str]]:
    """Every `earmark` subcommand and its long options, as `producer.cli.main` registers them."""
    import typer
    from typer.core import TyperGroup

    from producer.cli import COMMANDS_GROUP, commands, reads
    from producer.cli.report import report

    app = typer.Typer()
    for command in (commands.enqueue, reads.results, reads.status, report):
        app.command()(command)
    for entry in entry_points(group=COMMANDS_GROUP):
        app.command(name=entry.name)(entry.load())
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    return {
        name: {opt for param in command.params for opt in param.opts if opt.startswith("--")}
        for name, command in group.commands.items()
    }


def _earmark_calls(text: str) -> Iterator[tuple[str, set[str]]]:
    """Each `earmark SUBCOMMAND --option ...` in a file, up to the end of its shell command."""
    text = re.sub(r"^\s*#.*$", "", re.sub(r"\\\n", " ", text), flags=re.MULTILINE)
    # `earmark worker` in a shell line, `"earmark", "worker"` in a YAML list.
    call = r"""(?<![\w&*.-])earmark(?: |", "|',\s*')([a-z][a-z-]+)([^\n;|&>]*)"""
    for match in re.finditer(call, text):
        yield match[1], set(re.findall(r"--[a-z][a-z0-9-]*", match[2]))


def test_every_command_the_deployment_runs_exists_with_its_options() -> None:
    options = _cli_options()
    files = [ROOT / "docker-compose.yml", DEPLOY / "Dockerfile", *DEPLOY.glob("k8s/*.yaml")]
    files += DEPLOY.glob("systemd/*.service")
    seen = set()
    for path in files:
        for command, used in _earmark_calls(path.read_text()):
            if command in ("worker", "fetch-model", "enqueue", "report"):
                seen.add(command)
            assert command in options, f"{path.name}: earmark {command}"
            assert used <= options[command], f"{path.name}: {used - options[command]}"
    assert seen == {"worker", "fetch-model", "enqueue", "report"}


# --- docker-compose.yml ------------------------------------------------------------------------


@functools.cache
def _compose(*args: str) -> dict[str, Any]:
    # Debian's docker-compose (1.29) renders without a Docker daemon, as `docker compose` does.
    value: dict[str, Any] = yaml.safe_load(_run("docker-compose", *args, "config"))
    return value


@pytest.fixture(scope="module", params=["redis", "minio"])
def compose(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The rendered stack: results in the results Redis, or in MinIO (deploy/minio.env)."""
    if request.param == "minio":
        return _compose("--env-file", "deploy/minio.env")
    return _compose()


def _env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs if not k.lstrip().startswith("#")}


def test_compose_holds_the_whole_stack() -> None:
    services = _compose()["services"]
    assert set(services) == {
        "broker",
        "results",
        "minio",
        "minio-init",
        "fetch-model",
        "worker",
        "flower",
        "prometheus",
        "producer",
    }
    profiled = {name for name, service in services.items() if service.get("profiles")}
    assert profiled == {"minio", "minio-init"}
    assert all(services[name]["profiles"] == ["minio"] for name in profiled)
    assert _env_file(DEPLOY / "minio.env")["COMPOSE_PROFILES"] == "minio"
    for redis in ("broker", "results"):
        command = " ".join(services[redis]["command"])
        assert "--appendonly yes" in command and "--appendfsync always" in command
        assert "--maxmemory-policy noeviction" in command
        assert services[redis]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_compose_services_agree_with_the_settings(compose: dict[str, Any]) -> None:
    services = compose["services"]
    worker = services["worker"]
    environment = worker["environment"]
    _check_names(set(environment))
    settings = _settings(_earmark_only(environment))
    # Every earmark service talks to the same stack with the same model.
    for name in ("fetch-model", "producer"):
        other = _earmark_only(services[name]["environment"])
        assert {k: v for k, v in _earmark_only(environment).items() if k in other} == other
    broker = urlsplit(settings.broker_url)
    assert (broker.hostname, broker.port) == ("broker", 6379)
    assert f"--broker={settings.broker_url}" in services["flower"]["command"]
    results = urlsplit(settings.results_url)
    if results.scheme == "redis":
        assert (results.hostname, results.port) == ("results", 6379)
    else:
        init = services["minio-init"]["environment"]
        assert results.netloc == init["RESULTS_BUCKET"]
        assert urlsplit(environment["AWS_ENDPOINT_URL"]).hostname == "minio"
        assert environment["AWS_ACCESS_KEY_ID"] == init["MINIO_ROOT_USER"]
        assert environment["AWS_SECRET_ACCESS_KEY"] == init["MINIO_ROOT_PASSWORD"]


def test_compose_workers_scale_report_health_and_are_scraped(compose: dict[str, Any]) -> None:
    services = compose["services"]
    worker = services["worker"]
    settings = _settings(_earmark_only(worker["environment"]))
    port = settings.metrics_port
    assert port == Settings().metrics_port  # the default, so Prometheus' target needs no care
    # `--scale worker=4` needs no fixed name and no published port.
    assert "container_name" not in worker and "ports" not in worker
    assert str(port) in worker["expose"]
    assert f":{port}/healthz" in " ".join(worker["healthcheck"]["test"])
    assert worker["depends_on"]["fetch-model"] == {"condition": "service_completed_successfully"}
    assert str(worker["environment"]["HF_HUB_OFFLINE"]) == "1"
    grace = worker["stop_grace_period"]
    assert int(grace.removesuffix("s")) > settings.chunk_time_limit_s, grace

    hf_home = _dockerfile_env()["HF_HOME"]
    for name in ("worker", "fetch-model"):
        assert f"model-cache:{hf_home}:rw" in services[name]["volumes"], name
    assert "model-cache" in compose["volumes"]

    scrape = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    [job] = scrape["scrape_configs"]
    [discovery] = job["dns_sd_configs"]
    assert (discovery["names"], discovery["port"]) == (["worker"], port)
    mounted = [v.split(":")[0] for v in services["prometheus"]["volumes"]]
    assert str(DEPLOY / "prometheus.yml") in mounted


def test_prometheus_config_is_valid() -> None:
    _run("promtool", "check", "config", str(DEPLOY / "prometheus.yml"))  # its rule files too
    _run("promtool", "check", "rules", str(DEPLOY / "alerts.yml"))


def test_the_memory_alert_fires_on_a_redis_past_80_percent(tmp_path: Path) -> None:
    """The alert's expression, tested by promtool on series shaped as the worker exports them:
    a Redis at 90 % of its maxmemory fires after 5 minutes; one without maxmemory never does."""
    cases = {
        "rule_files": [str(DEPLOY / "alerts.yml")],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": 'earmark_redis_used_memory_bytes{redis="broker"}',
                        "values": "90x10",
                    },
                    {
                        "series": 'earmark_redis_max_memory_bytes{redis="broker"}',
                        "values": "100x10",
                    },
                    {
                        "series": 'earmark_redis_used_memory_bytes{redis="results"}',
                        "values": "90x10",
                    },
                    {"series": 'earmark_redis_max_memory_bytes{redis="results"}', "values": "0x10"},
                ],
                "alert_rule_test": [
                    {"eval_time": "3m", "alertname": "EarmarkRedisMemoryHigh", "exp_alerts": []},
                    {
                        "eval_time": "7m",
                        "alertname": "EarmarkRedisMemoryHigh",
                        "exp_alerts": [
                            {
                                "exp_labels": {"redis": "broker", "severity": "warning"},
                                "exp_annotations": {
                                    "summary": "earmark's broker Redis is 90% full",
                                    "description": _alert_description(),
                                },
                            }
                        ],
                    },
                ],
            }
        ],
    }
    tests = tmp_path / "alerts_test.yml"
    tests.write_text(yaml.safe_dump(cases))
    _run("promtool", "test", "rules", str(tests))


def _alert_description() -> str:
    rules = yaml.safe_load((DEPLOY / "alerts.yml").read_text())["groups"][0]["rules"]
    return str(rules[0]["annotations"]["description"])


# --- deploy/Dockerfile -------------------------------------------------------------------------


def _stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's stages, each a list of (instruction, arguments), continuations joined."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    stages: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        instruction, _, arguments = line.strip().partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), arguments.strip()))
    return stages


def _dockerfile_env() -> dict[str, str]:
    final = _stages()[-1]
    pairs = [shlex.split(args) for instruction, args in final if instruction == "ENV"]
    return dict(pair.split("=", 1) for words in pairs for pair in words)


def test_image_is_multi_stage_slim_and_non_root() -> None:
    build, final = _stages()
    assert build[0][1].endswith("-slim AS build") and final[0][1].endswith("-slim")
    final_runs = " ".join(args for instruction, args in final if instruction == "RUN")
    for tool in ("apt-get", "pip ", "gcc", "build-essential", "make "):
        assert tool not in final_runs, tool
    assert ("COPY", "--from=build /opt/earmark /opt/earmark") in final
    [user] = [args for instruction, args in final if instruction == "USER"]
    assert int(user.split(":")[0]) > 0
    env = _dockerfile_env()
    _check_names(set(env))
    settings = _settings(_earmark_only(env))
    [volume] = [args for instruction, args in final if instruction == "VOLUME"]
    assert env["HF_HOME"] in volume
    assert ("EXPOSE", str(settings.metrics_port)) in final
    assert ("CMD", '["earmark", "worker", "--concurrency", "1"]') in final
    assert ("COPY", "models /app/models") in final
    # compose runs the bundled demo model from there
    demo = _compose()["services"]["worker"]["environment"]["EARMARK_MODEL"]
    assert (ROOT / demo.removeprefix("/app/") / "config.json").is_file()


def test_image_copies_only_what_exists_and_the_ignore_file_lets_through() -> None:
    kept = {
        line.removeprefix("!").strip("/")
        for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    for stage in _stages():
        for instruction, args in stage:
            if instruction == "COPY" and not args.startswith("--from"):
                for source in args.split()[:-1]:
                    assert (ROOT / source).exists(), source
                    assert source.strip("/") in kept, source


# --- deploy/k8s --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    """`kubectl kustomize deploy/k8s`, parsed."""
    # Debian's kubernetes-client is kubectl 1.20 with kustomize 2.0.3; newer kubectl builds in
    # kustomize 5: the manifests use only what both understand.
    docs = yaml.safe_load_all(_run("kubectl", "kustomize", str(DEPLOY / "k8s")))
    return [doc for doc in docs if doc]


def _kind(manifests: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def _settings_map(manifests: list[dict[str, Any]]) -> dict[str, str]:
    [config] = _kind(manifests, "ConfigMap").values()
    assert config["metadata"]["name"].startswith("earmark-settings")
    data: dict[str, str] = config["data"]
    return data


def _containers(manifests: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for manifest in manifests:
        pod = manifest.get("spec", {}).get("template", {}).get("spec")
        if manifest["kind"] == "CronJob":
            pod = manifest["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        if pod:
            yield from pod.get("initContainers", [])
            yield from pod["containers"]


def test_manifests_pass_the_kubernetes_schemas(manifests: list[dict[str, Any]]) -> None:
    kinds = sorted(m["kind"] for m in manifests)
    assert kinds == sorted(
        ["Namespace", "ConfigMap", "PersistentVolumeClaim", "CronJob"]
        + ["Deployment", "PodDisruptionBudget", "ScaledObject"] * 2
    )
    for manifest in manifests:
        if manifest["apiVersion"] != "keda.sh/v1alpha1":
            # strict: a field the schema lacks (a misspelt probe, say) is an error.
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        assert manifest["metadata"].get("namespace", "earmark") == "earmark"


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with unknown fields refused wherever it lists properties."""
    result = {key: _strict(v) if isinstance(v, dict) else v for key, v in schema.items()}
    if "properties" in result:
        result["properties"] = {k: _strict(v) for k, v in schema["properties"].items()}
        result.setdefault("additionalProperties", False)
    return result


def test_scaled_objects_follow_kedas_schema_and_watch_their_own_queue(
    manifests: list[dict[str, Any]],
) -> None:
    spec_schema = _strict(yaml.safe_load((KEDA / "scaledobject-crd-spec.yaml").read_text()))
    redis_schema = yaml.safe_load((KEDA / "redis-lists-trigger.yaml").read_text())
    broker = urlsplit(_settings_map(manifests)["EARMARK_BROKER_URL"])
    deployments = _kind(manifests, "Deployment")
    watched = {}
    for scaled in _kind(manifests, "ScaledObject").values():
        jsonschema.validate(scaled["spec"], spec_schema)
        [trigger] = scaled["spec"]["triggers"]
        assert trigger["type"] == "redis"
        metadata = trigger["metadata"]
        jsonschema.validate(metadata, redis_schema)
        assert metadata["address"] == f"{broker.hostname}:{broker.port}"
        assert metadata["databaseIndex"] == broker.path.strip("/")
        target = deployments[scaled["spec"]["scaleTargetRef"]["name"]]
        [worker] = target["spec"]["template"]["spec"]["containers"]
        queues = worker["command"][worker["command"].index("--queues") + 1]
        assert queues == metadata["listName"]
        watched[metadata["listName"]] = target["metadata"]["name"]
    assert watched == {
        INTERACTIVE_QUEUE: "earmark-worker-interactive",
        BULK_QUEUE: "earmark-worker-bulk",
    }


def test_keda_check_refuses_what_keda_would_drop() -> None:
    """The schemas can fail: a misspelt field and a trigger without its list are refused."""
    spec_schema = _strict(yaml.safe_load((KEDA / "scaledobject-crd-spec.yaml").read_text()))
    redis_schema = yaml.safe_load((KEDA / "redis-lists-trigger.yaml").read_text())
    trigger = {"type": "redis", "metadata": {"address": "redis:6379", "listLength": "5"}}
    spec = {"scaleTargetRef": {"name": "w"}, "minReplicas": 1, "triggers": [trigger]}
    with pytest.raises(jsonschema.ValidationError, match="minReplicas"):
        jsonschema.validate(spec, spec_schema)
    with pytest.raises(jsonschema.ValidationError, match="listName"):
        jsonschema.validate(trigger["metadata"], redis_schema)


def test_workers_get_ready_on_healthz_and_outlast_their_shutdown(
    manifests: list[dict[str, Any]],
) -> None:
    shared = _settings_map(manifests)
    budgets = {b["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]: b
               for b in _kind(manifests, "PodDisruptionBudget").values()}  # fmt: skip
    for name, deployment in _kind(manifests, "Deployment").items():
        pod = deployment["spec"]["template"]
        [worker] = pod["spec"]["containers"]
        own = {e["name"]: e["value"] for e in worker.get("env", [])}
        settings = _settings(_earmark_only({**shared, **own}))
        [port] = worker["ports"]
        assert port["containerPort"] == settings.metrics_port
        probe = worker["readinessProbe"]["httpGet"]
        assert (probe["path"], probe["port"]) == ("/healthz", port["name"])
        annotations = pod["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(settings.metrics_port)
        assert worker["resources"]["requests"] and worker["resources"]["limits"]["memory"]
        # The longest a warm shutdown can take: a bulk chunk runs to its limit, an interactive
        # batch to its fetch deadline (inputs load in parallel) plus a model call.
        queue = worker["command"][worker["command"].index("--queues") + 1]
        bound = settings.chunk_time_limit_s if queue == BULK_QUEUE else settings.fetch_timeout_s
        assert pod["spec"]["terminationGracePeriodSeconds"] > bound, name
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
        [init] = pod["spec"]["initContainers"]
        assert init["command"] == ["earmark", "fetch-model"]
        assert own["HF_HUB_OFFLINE"] == "1"
        labels = pod["metadata"]["labels"]
        component = labels["app.kubernetes.io/component"]
        selector = budgets[component]["spec"]["selector"]["matchLabels"]
        assert selector.items() <= labels.items()


def test_every_variable_the_manifests_set_is_real(manifests: list[dict[str, Any]]) -> None:
    shared = _settings_map(manifests)
    _check_names(set(shared))
    _settings(shared)
    for container in _containers(manifests):
        script = " ".join(container["command"])
        own = {e["name"]: e["value"] for e in container.get("env", [])}
        _check_names(set(own), script)
        _settings(_earmark_only({**shared, **own}))
        refs = [
            source.get("configMapRef", source.get("secretRef")) for source in container["envFrom"]
        ]
        assert refs[0]["name"] == next(iter(_kind(manifests, "ConfigMap")))
        assert refs[1] == {"name": "earmark-secrets", "optional": True}


def test_nightly_job_queues_a_prefix_and_writes_the_report(
    manifests: list[dict[str, Any]],
) -> None:
    [cron] = _kind(manifests, "CronJob").values()
    job = cron["spec"]["jobTemplate"]["spec"]
    assert cron["spec"]["concurrencyPolicy"] == "Forbid" and job["backoffLimit"] == 0
    [container] = job["template"]["spec"]["containers"]
    script = container["command"][-1]
    assert 'earmark enqueue --s3-prefix "$NIGHTLY_S3_PREFIX" --batch-id "$batch"' in script
    assert "--wait --timeout" in script
    assert 'earmark report "$batch" --html "/reports/$batch.html"' in script
    [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == "/reports"]
    [volume] = [v for v in job["template"]["spec"]["volumes"] if v["name"] == mount["name"]]
    assert volume["persistentVolumeClaim"]["claimName"] in _kind(manifests, "PersistentVolumeClaim")


# --- deploy/systemd ----------------------------------------------------------------------------


def test_systemd_units_verify_and_outlast_a_chunk(tmp_path: Path) -> None:
    units = DEPLOY / "systemd"
    earmark = str(Path(sys.executable).parent / "earmark")  # this checkout's console script
    for unit in units.iterdir():
        # verify wants every ExecStart binary to exist: point them at this checkout's earmark.
        text = unit.read_text().replace("/opt/earmark/bin/earmark", earmark)
        (tmp_path / unit.name).write_text(text)
    names = ["earmark-fetch-model.service", "earmark-worker@bulk.service"]
    names += ["earmark-nightly.service", "earmark-nightly.timer"]
    done = subprocess.run(
        [require_tool("systemd-analyze", package="systemd"), "verify", "--man=no", *names],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Unknown keys are only warnings to systemd: any output fails the test.
    assert (done.returncode, done.stderr.strip()) == (0, ""), done.stderr

    env = _env_file(units / "earmark.env")
    _check_names(set(env))
    settings = _settings(_earmark_only(env))
    worker = (units / "earmark-worker@.service").read_text()
    assert "--queues earmark.%i" in worker
    timeout = int(re.search(r"^TimeoutStopSec=(\d+)$", worker, re.MULTILINE)[1])  # type: ignore[index]
    assert timeout > settings.chunk_time_limit_s
    for unit in units.glob("*.service"):
        text = unit.read_text()
        assigned = re.findall(r"^Environment=(\w+)=", text, re.MULTILINE)
        _check_names(set(assigned), text)
        assert "EnvironmentFile=/etc/earmark/earmark.env" in text
