"""Session harness: the GigaChat emulator and the adapter as real processes, plus real clients.

Binaries come from `target/release` (override with E2E_BIN_DIR); the OpenAI description from
`../shared/openai-spec/openapi-subset.json` beside the repository (override with E2E_OPENAI_SPEC).
Process logs go to a pytest temp dir; a failing test gets the lines its processes logged while it
ran appended to its report, and the session prints where the full logs are.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import httpx
import openai
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from support import API_KEY, MODEL_ALIASES, SECOND_KEY, free_port

REPO = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("E2E_BIN_DIR", REPO / "target" / "release"))
SPEC_PATH = Path(os.environ.get("E2E_OPENAI_SPEC", REPO.parent / "shared" / "openai-spec" / "openapi-subset.json"))

EMULATOR_CLIENT_ID = "emulator-client"
EMULATOR_CLIENT_SECRET = "emulator-secret"
STARTUP_TIMEOUT = 30.0

# Variables of the adapter's configuration that must not leak in from the developer's shell.
ADAPTER_VARS = (
    "HOST",
    "PORT",
    "BEARER_TOKEN",
    "ALLOW_UNAUTHENTICATED",
    "KEYS_FILE",
    "KEYS_RELOAD_SECS",
    "ADMIN_TOKEN",
    "CORS_ALLOWED_HOSTS",
    "MODEL_ALIASES",
    "SHUTDOWN_GRACE_SECS",
    "DEBUG",
    "ENVIRONMENT",
    "ACCESS_LOG",
    "METRICS_ADDR",
    "MAX_REQUEST_BYTES",
    "MODELS_CACHE_SECS",
    "READY_CACHE_SECS",
    "RUST_LOG",
    "DATA_DIR",
    "REDIS_URL",
    "FILE_ID_TTL_SECS",
    "FETCH_ALLOWED_NETWORKS",
    "FETCH_MAX_BYTES",
    "FETCH_TIMEOUT_SECS",
    "IMAGE_GENERATION",
    "GENERATED_IMAGES",
    "PUBLIC_BASE_URL",
    "HEADER_READ_TIMEOUT_SECS",
    "BODY_READ_TIMEOUT_SECS",
    "IDLE_TIMEOUT_SECS",
    "SEND_TIMEOUT_SECS",
    "MAX_CONNECTIONS",
    "MAX_HEADER_BYTES",
    "HTTP2_MAX_CONCURRENT_STREAMS",
)

_PROCESSES: list["Process"] = []
_LOG_DIRS: list[Path] = []


# --------------------------------------------------------------------------------------------
# Processes


def binary(name: str) -> Path:
    path = BIN_DIR / name
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(
            f"{path} is missing: build it first with "
            "`cargo build --release --locked -p gigachat-adapter -p gigachat-emulator` "
            "(tests/e2e/run.sh does this)",
            pytrace=False,
        )
    return path


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if pytest dies (even by SIGKILL), so no orphan keeps a port."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@dataclass(eq=False)
class Process:
    """A child process whose stdout/stderr go to one log file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen | None = None
    _log_file: Any = None

    def start(self) -> "Process":
        self._log_file = open(self.log_path, "ab")
        self._log_file.write(f"$ {' '.join(self.argv)}\n".encode())
        self._log_file.flush()
        self.popen = subprocess.Popen(
            self.argv,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        _PROCESSES.append(self)
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_text(self, since: int = 0) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self in _PROCESSES:
            _PROCESSES.remove(self)

    def fail_startup(self, why: str) -> None:
        code = self.popen.poll() if self.popen else None
        log = self.log_text()
        self.stop()
        pytest.fail(f"{self.name} did not start: {why} (exit code {code}); its log:\n{log}", pytrace=False)


def clean_env() -> dict[str, str]:
    """The current environment without GigaChat or adapter settings and without proxies."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GIGACHAT_") and k not in ADAPTER_VARS and "proxy" not in k.lower()
    }
    env.setdefault("RUST_BACKTRACE", "1")
    env["NO_COLOR"] = "1"
    return env


# --------------------------------------------------------------------------------------------
# Emulator


@dataclass
class Emulator:
    """The running emulator and its `/_emulator/` control API."""

    process: Process
    api_base_url: str
    auth_url: str
    ca_pem: Path
    credentials: str
    http: httpx.Client = field(repr=False, default=None)  # type: ignore[assignment]

    @property
    def control_url(self) -> str:
        # The API base is `https://localhost:PORT/v1` (the new host's layout, printed by the
        # emulator) or `/api/v1` (the older one); the control API sits at the origin's root.
        origin = httpx.URL(self.api_base_url).copy_with(path="/", query=None)
        return str(origin).rstrip("/") + "/_emulator"

    def fault(self, kind: str, **spec: Any) -> None:
        """Queues a fault, e.g. `fault("status", status=429, retry_after_ms=2000,
        path_suffix="/chat/completions")`; see crates/emulator/src/control.rs."""
        response = self.http.post(f"{self.control_url}/faults", json={"kind": kind, **spec})
        assert response.status_code == 204, f"emulator refused fault {kind} {spec}: {response.text}"

    def chat_fault(self, kind: str, **spec: Any) -> None:
        """A fault on the next chat call only (never on /models, /tokens or OAuth)."""
        self.fault(kind, path_suffix="/chat/completions", **spec)

    def clear_faults(self) -> None:
        self.http.delete(f"{self.control_url}/faults").raise_for_status()

    def requests(self) -> list[dict[str, Any]]:
        """The request log (oldest first): listener, method, path, headers, body, status…"""
        response = self.http.get(f"{self.control_url}/requests")
        response.raise_for_status()
        return response.json()

    def chat_requests(self) -> list[dict[str, Any]]:
        """Logged chat calls, each with its body parsed as JSON under `json`."""
        out = []
        for request in self.requests():
            if request["listener"] == "api" and request["path"].endswith("/chat/completions"):
                request["json"] = json.loads(request["body"]) if request["body"] else None
                out.append(request)
        return out

    def file_uploads(self) -> list[dict[str, Any]]:
        """Logged `POST /v1/files` calls (either host layout), each with its multipart `file` part parsed:
        `filename`, `content_type`, `content` (bytes) and the form's `purpose`."""
        out = []
        for request in self.requests():
            if request["listener"] == "api" and request["method"] == "POST" and request["path"].endswith("/v1/files"):
                headers = {k.lower(): v for k, v in request["headers"]}
                parts = multipart_parts(headers.get("content-type", ""), base64.b64decode(request["body_base64"]))
                upload = dict(parts.get("file", {}))
                upload["purpose"] = parts.get("purpose", {}).get("content", b"").decode() or None
                upload["status"] = request["status"]
                out.append(upload)
        return out

    def clear_requests(self) -> None:
        self.http.delete(f"{self.control_url}/requests").raise_for_status()

    def expire_tokens(self) -> None:
        self.http.post(f"{self.control_url}/tokens/expire").raise_for_status()

    def revoke_tokens(self) -> None:
        self.http.post(f"{self.control_url}/tokens/revoke").raise_for_status()


def multipart_parts(content_type: str, body: bytes) -> dict[str, dict[str, Any]]:
    """The parts of a `multipart/form-data` body by field name: `filename`, `content_type`, `content`
    (exact bytes). Asserts the framing is well-formed."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    assert content_type.startswith("multipart/form-data") and match, f"not a multipart upload: {content_type!r}"
    delimiter = b"--" + match.group(1).encode()
    chunks = body.split(delimiter)
    assert chunks[-1].startswith(b"--"), "multipart body has no closing delimiter"
    parts: dict[str, dict[str, Any]] = {}
    for chunk in chunks[1:-1]:
        assert chunk.startswith(b"\r\n") and chunk.endswith(b"\r\n"), f"malformed part framing: {chunk[:80]!r}"
        head, _, content = chunk[2:-2].partition(b"\r\n\r\n")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name = re.search(r'(?:^|;)\s*name="([^"]*)"', disposition)
        filename = re.search(r'filename="([^"]*)"', disposition)
        parts[name.group(1) if name else ""] = {
            "filename": filename.group(1) if filename else None,
            "content_type": headers.get("content-type"),
            "content": content,
        }
    return parts


def start_emulator(log_dir: Path, *extra_args: str) -> Emulator:
    """Starts the emulator binary logging into `log_dir`; `extra_args` are more of its flags
    (e.g. `--concurrency-limit 1` for the personal tier)."""
    ca_pem = log_dir / "emulator-ca.pem"
    argv = [
        str(binary("gigachat-emulator")),
        "--host",
        "127.0.0.1",
        "--api-port",
        "0",
        "--oauth-port",
        "0",
        "--ca-pem",
        str(ca_pem),
        "--client-id",
        EMULATOR_CLIENT_ID,
        "--client-secret",
        EMULATOR_CLIENT_SECRET,
        "--log",
        "info",
        *extra_args,
    ]
    env = {k: v for k, v in clean_env().items() if not k.startswith("GIGACHAT_EMULATOR_")}
    process = Process("gigachat-emulator", argv, env, log_dir / "emulator.log").start()
    # It binds port 0 and prints the URLs it got: read them from its log.
    deadline = time.monotonic() + STARTUP_TIMEOUT
    printed: dict[str, str] = {}
    while time.monotonic() < deadline:
        text = process.log_text()
        printed = dict(re.findall(r"^\s+(GIGACHAT_[A-Z_]+)=(\S+)$", text, re.M))
        if "control API" in text and "GIGACHAT_BASE_URL" in printed and ca_pem.exists():
            break
        if not process.alive():
            process.fail_startup("exited early")
        time.sleep(0.05)
    else:
        process.fail_startup(f"no 'ready' banner within {STARTUP_TIMEOUT}s")
    emulator = Emulator(
        process=process,
        api_base_url=printed["GIGACHAT_BASE_URL"],
        auth_url=printed["GIGACHAT_AUTH_URL"],
        ca_pem=ca_pem,
        credentials=base64.b64encode(f"{EMULATOR_CLIENT_ID}:{EMULATOR_CLIENT_SECRET}".encode()).decode(),
    )
    emulator.http = httpx.Client(verify=ssl.create_default_context(cafile=str(ca_pem)), timeout=10, trust_env=False)
    return emulator


# --------------------------------------------------------------------------------------------
# Adapter


@dataclass
class Adapter:
    """A running adapter instance."""

    process: Process
    port: int

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    def client(self, api_key: str = API_KEY, base_url: str | None = None, **kwargs: Any) -> openai.OpenAI:
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("timeout", 30)
        return openai.OpenAI(base_url=base_url or self.base_url, api_key=api_key, **kwargs)


class AdapterFactory:
    """Starts adapter instances pointed at the emulator; extra env overrides the defaults."""

    def __init__(self, emulator: Emulator | None, log_dir: Path):
        self.emulator = emulator
        self.log_dir = log_dir
        self.count = 0
        self.started: list[Adapter] = []

    def env(self, port: int, overrides: dict[str, str]) -> dict[str, str]:
        env = clean_env()
        env.update(
            HOST="127.0.0.1",
            PORT=str(port),
            # Its own uploaded-file store (redb allows one process per file), never ./data.
            DATA_DIR=str(self.log_dir / f"data-{self.count}"),
            BEARER_TOKEN=f"{API_KEY},{SECOND_KEY}",
            MODEL_ALIASES=",".join(f"{k}={v}" for k, v in MODEL_ALIASES.items()),
            GIGACHAT_SCOPE="GIGACHAT_API_PERS",
            # One upstream attempt per client request: an injected one-shot fault is seen by the client.
            GIGACHAT_MAX_RETRIES="0",
            GIGACHAT_TIMEOUT="20",
        )
        if self.emulator is not None:
            env.update(
                GIGACHAT_BASE_URL=self.emulator.api_base_url,
                GIGACHAT_AUTH_URL=self.emulator.auth_url,
                GIGACHAT_CREDENTIALS=self.emulator.credentials,
                GIGACHAT_CA_BUNDLE_FILE=str(self.emulator.ca_pem),
            )
        env.update(overrides)
        return env

    def start(self, ready_path: str = "/health/ready", **overrides: str) -> Adapter:
        """Starts one instance and waits until `ready_path` answers 200."""
        for _attempt in range(3):
            self.count += 1
            port = free_port()
            name = f"gigachat-adapter#{self.count}"
            process = Process(
                name,
                [str(binary("gigachat-adapter"))],
                self.env(port, overrides),
                self.log_dir / f"adapter-{self.count}.log",
            )
            with open(process.log_path, "wb") as f:
                shown = {k: v for k, v in overrides.items()}
                f.write(f"# port {port}, overrides {shown}\n".encode())
            process.start()
            adapter = Adapter(process, port)
            status = wait_until_ready(adapter, ready_path)
            if status == 200:
                self.started.append(adapter)
                return adapter
            log = process.log_text()
            if not process.alive() and "in use" in log.lower():
                continue  # lost the race for the free port: try another one
            process.fail_startup(f"GET {ready_path} did not answer 200 within {STARTUP_TIMEOUT}s (last: {status})")
        pytest.fail("adapter could not bind a free port in 3 attempts", pytrace=False)

    def stop_all(self) -> None:
        for adapter in self.started:
            adapter.process.stop()


def wait_until_ready(adapter: Adapter, path: str) -> int | str | None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last: int | str | None = None
    with httpx.Client(timeout=2, trust_env=False) as http:
        while time.monotonic() < deadline:
            if not adapter.process.alive():
                return f"process exited with {adapter.process.popen.poll()}"
            try:
                last = http.get(f"{adapter.root_url}{path}").status_code
                if last == 200:
                    return 200
            except httpx.TransportError as error:
                last = type(error).__name__
            time.sleep(0.05)
    return last


# --------------------------------------------------------------------------------------------
# Schema validation


class SchemaValidator:
    """Validates instances against `#/components/schemas/<Name>` of the OpenAI description."""

    def __init__(self, spec_path: Path):
        if not spec_path.is_file():
            pytest.exit(f"OpenAI description {spec_path} is missing (../shared must sit beside the repo)", returncode=3)
        spec = json.loads(spec_path.read_text())
        self.spec = spec
        self._event_schemas: dict[str, str] | None = None
        self.uri = "urn:openai-openapi-subset"
        resource = Resource(contents=spec, specification=DRAFT202012)
        self.registry = Registry().with_resource(self.uri, resource)
        self.names = set(spec["components"]["schemas"])
        self._validators: dict[str, Draft202012Validator] = {}

    def validator(self, name: str) -> Draft202012Validator:
        if name not in self._validators:
            assert name in self.names, f"no schema {name} in the OpenAI description"
            schema = {"$ref": f"{self.uri}#/components/schemas/{name}"}
            self._validators[name] = Draft202012Validator(schema, registry=self.registry)
        return self._validators[name]

    def stream_event(self, event: Any) -> None:
        """Validates one Responses stream event against the `ResponseStreamEvent` variant its `type`
        names (the union's discriminator), so a violation is reported against that variant alone."""
        if self._event_schemas is None:
            self._event_schemas = {}
            for variant in self.spec["components"]["schemas"]["ResponseStreamEvent"]["anyOf"]:
                name = variant["$ref"].rsplit("/", 1)[-1]
                for kind in self.spec["components"]["schemas"][name]["properties"]["type"]["enum"]:
                    self._event_schemas[kind] = name
        kind = event.get("type") if isinstance(event, dict) else None
        assert kind in self._event_schemas, f"not a ResponseStreamEvent type: {kind!r} in {json.dumps(event)[:500]}"
        self(self._event_schemas[kind], event)

    def __call__(self, name: str, instance: Any) -> None:
        errors = sorted(self.validator(name).iter_errors(instance), key=lambda e: list(e.absolute_path))
        if errors:
            lines = [f"  at /{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in errors[:10]]
            raise AssertionError(
                f"not a valid {name} ({len(errors)} error(s)):\n" + "\n".join(lines) + f"\ninstance: {json.dumps(instance, ensure_ascii=False)[:2000]}"
            )


# --------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("e2e-logs", numbered=True)
    _LOG_DIRS.append(path)
    return path


@pytest.fixture(scope="session")
def emulator(log_dir) -> Emulator:
    emulator = start_emulator(log_dir)
    yield emulator
    emulator.http.close()
    emulator.process.stop()


@pytest.fixture(scope="session")
def adapters(emulator, log_dir) -> AdapterFactory:
    """Starts extra adapter instances (e.g. with a short GIGACHAT_TIMEOUT); all stop at session end."""
    factory = AdapterFactory(emulator, log_dir)
    yield factory
    factory.stop_all()


@pytest.fixture(scope="session")
def adapter(adapters) -> Adapter:
    """The shared adapter instance (keys test-key and second-key, aliases gpt-4o and gpt-4o-mini)."""
    return adapters.start()


@pytest.fixture(scope="session")
def adapter_v2(adapters) -> Adapter:
    """An adapter on GigaChat's v2 chat contract (`GIGACHAT_API_VERSION=2`: `/v2/chat/completions`),
    otherwise configured as the shared one."""
    return adapters.start(GIGACHAT_API_VERSION="2")


@pytest.fixture(params=["1", "2"], ids=["v1", "v2"])
def contract(request) -> str:
    """`GIGACHAT_API_VERSION` of the adapter behind `contract_client`/`contract_http`: a test taking
    any of them runs once per contract."""
    return request.param


@pytest.fixture
def contract_adapter(contract, request) -> Adapter:
    """The shared adapter (contract 1) or `adapter_v2` (contract 2)."""
    return request.getfixturevalue("adapter" if contract == "1" else "adapter_v2")


@pytest.fixture
def contract_client(contract_adapter) -> openai.OpenAI:
    client = contract_adapter.client()
    yield client
    client.close()


@pytest.fixture
def contract_http(contract_adapter) -> httpx.Client:
    """Raw HTTP client on the root of the `contract` adapter (pass headers per request)."""
    with httpx.Client(base_url=contract_adapter.root_url, timeout=30, trust_env=False) as http:
        yield http


@pytest.fixture(scope="session")
def base_url(adapter) -> str:
    return adapter.base_url


@pytest.fixture(scope="session")
def api_key() -> str:
    return API_KEY


@pytest.fixture(scope="session")
def client(adapter) -> openai.OpenAI:
    client = adapter.client()
    yield client
    client.close()


@pytest.fixture(scope="session")
def http(adapter) -> httpx.Client:
    """Raw HTTP client on the adapter root (no key set: pass headers per request)."""
    with httpx.Client(base_url=adapter.root_url, timeout=30, trust_env=False) as http:
        yield http


@pytest.fixture(scope="session")
def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture(scope="session")
def validate() -> Callable[[str, Any], None]:
    """`validate("CreateChatCompletionResponse", body)` raises AssertionError listing violations;
    `validate.stream_event(event)` checks a Responses stream event against the variant of its type."""
    return SchemaValidator(SPEC_PATH)


@pytest.fixture(autouse=True)
def _clean_emulator(request):
    """No fault or log entry carries over between tests; remembers log offsets for failure reports."""
    emulator = request.getfixturevalue("emulator") if "emulator" in request.fixturenames else None
    if emulator is not None:
        emulator.clear_faults()
        emulator.clear_requests()
    request.node._log_offsets = {p: p.log_size() for p in list(_PROCESSES)}
    yield
    if emulator is not None:
        emulator.clear_faults()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        offsets = getattr(item, "_log_offsets", {})
        for process in list(_PROCESSES):
            text = process.log_text(offsets.get(process, 0))
            if text.strip():
                tail = text[-8000:]
                report.sections.append((f"{process.name} log during {report.when} ({process.log_path})", tail))
    return report


def pytest_terminal_summary(terminalreporter, exitstatus):
    if exitstatus != 0:
        for path in _LOG_DIRS:
            terminalreporter.write_line(f"e2e process logs (emulator.log, adapter-N.log): {path}")


def pytest_sessionfinish(session, exitstatus):
    for process in list(_PROCESSES):
        process.stop()
