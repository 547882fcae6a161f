"""Several adapter replicas sharing one real Redis behind a real HAProxy, for multi-replica e2e tests.

`Replicas.start(adapters, log_dir, **env)` starts `redis-server` on a free loopback port, two
adapters (through the session `adapters` factory, so they talk to the session emulator) with
`REDIS_URL` pointing at it and the same `BEARER_TOKEN`, and HAProxy in front, health-checking each
replica on `/health/ready`. A test module makes it a module-scoped fixture:

    @pytest.fixture(scope="module")
    def replicas(adapters, log_dir):
        with Replicas.start(adapters, log_dir, KEYS_FILE=...) as cluster:
            yield cluster

`cluster.balancer_url`, `cluster.urls` (the replicas' own roots), `cluster.redis_url`;
`cluster.start_replica(**env)` adds a replica with more env (HAProxy does not know it: talk to it
directly); `cluster.kill(i)` SIGKILLs replica i, `cluster.terminate(i)` stops it gracefully (SIGTERM); `cluster.haproxy.server_states()` tells what the
balancer thinks of each replica. Debian's `redis-server` and `haproxy` are needed (.ci/run installs them).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

from conftest import STARTUP_TIMEOUT, Adapter, AdapterFactory, Process, clean_env
from support import free_port

# HAProxy's health checks: every 250 ms, down after 2 failures, up after 2 successes.
CHECK_INTERVAL_MS = 250
CHECK_FALL = 2
CHECK_RISE = 2


def _require(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.fail(
            f"`{binary}` is not on PATH: the multi-replica tests need a real one "
            f"(Debian: apt-get install {package}; .ci/run does it)",
            pytrace=False,
        )
    return path


class Redis:
    """A real `redis-server` on a free loopback port, without persistence."""

    def __init__(self, log_dir: Path):
        server = _require("redis-server", "redis-server")
        self.cli_path = _require("redis-cli", "redis-tools")
        for _attempt in range(3):
            self.port = free_port()
            workdir = log_dir / f"redis-{self.port}"
            workdir.mkdir(exist_ok=True)
            argv = [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)]
            self.process = Process(f"redis-server:{self.port}", argv, clean_env(), log_dir / f"redis-{self.port}.log").start()
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while time.monotonic() < deadline and self.process.alive():
                if self.cli("PING") == "PONG":
                    return
                time.sleep(0.05)
            self.process.stop()
        pytest.fail("redis-server did not start (three tries on free ports)", pytrace=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/"

    def cli(self, *args: str) -> str:
        """One command through `redis-cli`; its raw output, stripped."""
        done = subprocess.run([self.cli_path, "-p", str(self.port), *args], capture_output=True, text=True, timeout=10)
        return done.stdout.strip()

    def keys(self, pattern: str = "*") -> list[str]:
        return sorted(line for line in self.cli("--scan", "--pattern", pattern).splitlines() if line)

    def stop(self) -> None:
        self.process.stop()


class HAProxy:
    """HAProxy in HTTP mode, round-robin over the replicas, health-checking `/health/ready`.

    A connection refused by a replica is retried on another one (`retries` + `option redispatch`):
    a request is only lost when it was already on a replica that died. Each answer carries the
    replica that served it in `x-served-by` (r1, r2, ...).
    """

    def __init__(self, log_dir: Path, backends: list[int]):
        binary = _require("haproxy", "haproxy")
        self.socket_path = log_dir / f"haproxy-{id(self)}.sock"
        for _attempt in range(3):
            self.port = free_port()
            config = log_dir / f"haproxy-{self.port}.cfg"
            config.write_text(self.config(backends))
            check = subprocess.run([binary, "-c", "-f", str(config)], capture_output=True, text=True, timeout=30)
            assert check.returncode == 0, f"haproxy refused its config:\n{check.stdout}{check.stderr}"
            self.process = Process(f"haproxy:{self.port}", [binary, "-db", "-f", str(config)], clean_env(), log_dir / f"haproxy-{self.port}.log").start()
            if self.wait_until_up(len(backends)):
                return
            self.process.stop()
        pytest.fail(f"haproxy did not start or did not see the replicas up; its log:\n{self.process.log_text()}", pytrace=False)

    def config(self, backends: list[int]) -> str:
        servers = "\n".join(
            f"    server r{i} 127.0.0.1:{port} check inter {CHECK_INTERVAL_MS}ms fall {CHECK_FALL} rise {CHECK_RISE}"
            for i, port in enumerate(backends, start=1)
        )
        return f"""global
    maxconn 2000
    stats socket {self.socket_path} mode 600 level admin

defaults
    mode http
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    # Connection failures only: a request a replica started is never sent twice.
    retries 3
    option redispatch 1
    retry-on conn-failure

frontend api
    bind 127.0.0.1:{self.port}
    default_backend adapters

backend adapters
    balance roundrobin
    option httpchk GET /health/ready
    http-check expect status 200
    http-response set-header x-served-by %s
{servers}
"""

    def wait_until_up(self, count: int) -> bool:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline and self.process.alive():
            with contextlib.suppress(OSError):
                states = self.server_states()
                if len(states) == count and all(s == "UP" for s in states.values()):
                    return True
            time.sleep(0.1)
        return False

    def command(self, line: str) -> str:
        """One command on the admin socket (e.g. `show stat`)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(self.socket_path))
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def stats(self) -> list[dict[str, str]]:
        """`show stat` rows of the replicas (one per server), as dicts of its CSV columns."""
        lines = self.command("show stat").splitlines()
        header = lines[0].lstrip("# ").split(",")
        rows = [dict(zip(header, line.split(","))) for line in lines[1:] if line]
        return [r for r in rows if r["pxname"] == "adapters" and r["svname"] not in ("FRONTEND", "BACKEND")]

    def server_states(self) -> dict[str, str]:
        """Replica name (r1, r2, ...) → `UP`, `DOWN`, ... (the first word of HAProxy's status)."""
        return {r["svname"]: r["status"].split()[0] for r in self.stats()}

    def wait_for_state(self, server: str, state: str, timeout: float) -> float:
        """Waits until `server` is in `state`; returns the seconds it took."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.server_states().get(server) == state:
                return time.monotonic() - started
            time.sleep(0.02)
        raise AssertionError(f"haproxy did not mark {server} {state} within {timeout}s: {self.server_states()}")

    def stop(self) -> None:
        self.process.stop()


@dataclass
class Replicas:
    """Redis, the replicas and the balancer in front of them."""

    adapters: AdapterFactory
    redis: Redis
    replicas: list[Adapter]
    haproxy: HAProxy
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    @contextlib.contextmanager
    def start(cls, adapters: AdapterFactory, log_dir: Path, count: int = 2, **env: str) -> Iterator["Replicas"]:
        """Starts Redis, `count` replicas with `env` (plus `REDIS_URL`) and HAProxy; stops them all on exit."""
        redis = Redis(log_dir)
        started: list[Adapter] = []
        haproxy = None
        try:
            for _ in range(count):
                started.append(adapters.start(REDIS_URL=redis.url, **env))
            haproxy = HAProxy(log_dir, [a.port for a in started])
            yield cls(adapters, redis, started, haproxy, dict(env))
        finally:
            if haproxy is not None:
                haproxy.stop()
            for adapter in started:
                adapter.process.stop()
            redis.stop()

    @property
    def balancer_url(self) -> str:
        """The root URL of HAProxy (append `/v1` for the OpenAI SDK)."""
        return f"http://127.0.0.1:{self.haproxy.port}"

    @property
    def urls(self) -> list[str]:
        """The replicas' own root URLs, in HAProxy's order (r1, r2, ...)."""
        return [a.root_url for a in self.replicas]

    @property
    def redis_url(self) -> str:
        return self.redis.url

    def start_replica(self, **env: str) -> Adapter:
        """One more replica on the same Redis, with the cluster's env and `env` on top (not behind HAProxy)."""
        adapter = self.adapters.start(REDIS_URL=self.redis.url, **{**self.env, **env})
        self.replicas.append(adapter)
        return adapter

    def terminate(self, index: int, timeout: float = 60) -> None:
        """SIGTERMs replica `index` (0-based) and waits for it to exit: the graceful stop of a rolling update."""
        popen = self.replicas[index].process.popen
        assert popen is not None and popen.poll() is None, f"replica {index} is not running"
        popen.send_signal(signal.SIGTERM)
        popen.wait(timeout=timeout)

    def kill(self, index: int) -> None:
        """SIGKILLs replica `index` (0-based): no graceful shutdown, as a crashed machine."""
        popen = self.replicas[index].process.popen
        assert popen is not None and popen.poll() is None, f"replica {index} is not running"
        popen.send_signal(signal.SIGKILL)
        popen.wait(timeout=10)
