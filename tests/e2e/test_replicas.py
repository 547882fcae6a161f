"""Two adapter replicas on one real Redis behind a real HAProxy (tests/e2e/replicas.py), with the
emulator behind them: what the replicas share through Redis (files, stored responses, key limits,
account slots), what a client sees when one dies, and how keys, pools and pass-through callers reach
GigaChat.
"""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest

from conftest import AdapterFactory, start_emulator
from replicas import CHECK_FALL, CHECK_INTERVAL_MS, Replicas
from support import API_KEY, data_url, png

MODEL = "GigaChat"


@pytest.fixture(scope="module")
def replicas(adapters, log_dir):
    with Replicas.start(adapters, log_dir) as cluster:
        yield cluster


def client_for(root_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{root_url}/v1", api_key=API_KEY, max_retries=0, timeout=30)


def test_balancer_spreads_requests_over_both_replicas(replicas):
    assert replicas.haproxy.server_states() == {"r1": "UP", "r2": "UP"}
    with httpx.Client(base_url=replicas.balancer_url, timeout=30, trust_env=False) as http:
        served = [http.get("/v1/models", headers={"authorization": f"Bearer {API_KEY}"}) for _ in range(4)]
    assert [r.status_code for r in served] == [200] * 4, [r.text for r in served]
    assert sorted(r.headers["x-served-by"] for r in served) == ["r1", "r1", "r2", "r2"]


def test_one_image_through_both_replicas_is_uploaded_once(replicas, emulator):
    image = png(uuid.uuid4().hex)
    keys_before = set(replicas.redis.keys())
    for url in replicas.urls:
        with client_for(url) as client:
            completion = client.chat.completions.create(
                model=MODEL,
                messages=[{"role": "user", "content": [{"type": "text", "text": "Что здесь?"}, {"type": "image_url", "image_url": {"url": data_url("image/png", image)}}]}],
            )
        assert completion.choices[0].message.content.strip()
    uploads = emulator.file_uploads()
    assert [u["content"] for u in uploads] == [image], f"expected one upload of the image, got {len(uploads)}"
    # Both chat calls attached the same GigaChat file id: the second replica found it in Redis.
    calls = emulator.chat_requests()
    attached = [[m.get("attachments") for m in c["json"]["messages"] if m.get("attachments")] for c in calls]
    assert len(calls) == 2 and attached[0] == attached[1] and attached[0], attached
    assert set(replicas.redis.keys()) - keys_before, "nothing new in Redis: the file id was not shared there"


def test_stored_response_created_on_one_replica_is_continued_on_the_other(replicas, emulator):
    first_url, second_url = replicas.urls
    with client_for(first_url) as first_client, client_for(second_url) as second_client:
        first = first_client.responses.create(model=MODEL, input="My name is Ada.", store=True)
        second = second_client.responses.create(model=MODEL, previous_response_id=first.id, input="What is my name?")
        assert second.previous_response_id == first.id and second.output_text.strip()
        # The history the second replica rebuilt from Redis reached GigaChat.
        messages = emulator.chat_requests()[-1]["json"]["messages"]
        assert [(m["role"], m["content"]) for m in messages] == [
            ("user", "My name is Ada."),
            ("assistant", first.output_text),
            ("user", "What is my name?"),
        ], messages
        # And each replica retrieves what the other stored.
        assert second_client.responses.retrieve(first.id).output_text == first.output_text
        assert first_client.responses.retrieve(second.id).output_text == second.output_text


@dataclass
class Outcome:
    started: float
    ended: float
    error: str | None
    served_by: str | None


def run_load(balancer_url: str, stop: threading.Event, outcomes: list[Outcome], stream: bool) -> None:
    """Chat requests through the balancer, one after another, until `stop`; every outcome recorded."""
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Расскажи о Москве"}], "stream": stream}
    headers = {"authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=balancer_url, timeout=30, trust_env=False) as http:
        while not stop.is_set():
            started = time.monotonic()
            error = served_by = None
            try:
                with http.stream("POST", "/v1/chat/completions", json=body, headers=headers) as response:
                    raw = response.read()
                    served_by = response.headers.get("x-served-by")
                    if response.status_code != 200:
                        error = f"{response.status_code} {raw[:200]!r}"
                    elif stream and not raw.rstrip().endswith(b"data: [DONE]"):
                        error = f"stream ended without [DONE]: {raw[-200:]!r}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            outcomes.append(Outcome(started, time.monotonic(), error, served_by))


def test_killing_a_replica_under_load_loses_only_its_requests_in_flight(adapters, log_dir, emulator):
    """Four clients (two streaming) load the balancer; one replica is SIGKILLed while it serves some
    of them. Only requests that were in flight at that moment may fail, HAProxy marks the replica
    down within its check budget, and every request started after the kill is answered by the other."""
    # Every chat call takes 300 ms at GigaChat, so requests are in flight on both replicas.
    emulator.chat_fault("slow_first_byte", delay_ms=300, times=10_000)
    with Replicas.start(adapters, log_dir) as cluster:
        stop = threading.Event()
        outcomes: list[Outcome] = []
        workers = [threading.Thread(target=run_load, args=(cluster.balancer_url, stop, outcomes, i % 2 == 0)) for i in range(4)]
        for worker in workers:
            worker.start()
        try:
            time.sleep(1.0)
            # Kill r2 while it holds requests.
            deadline = time.monotonic() + 5
            while int(next(r for r in cluster.haproxy.stats() if r["svname"] == "r2")["scur"]) == 0:
                assert time.monotonic() < deadline, "no request ever in flight on r2"
                time.sleep(0.01)
            killed_at = time.monotonic()
            cluster.kill(1)
            down_after = cluster.haproxy.wait_for_state("r2", "DOWN", timeout=10)
            time.sleep(1.5)
        finally:
            stop.set()
            for worker in workers:
                worker.join(timeout=60)
        states = cluster.haproxy.server_states()

    before = [o for o in outcomes if o.ended < killed_at]
    in_flight = [o for o in outcomes if o.started <= killed_at <= o.ended]
    after = [o for o in outcomes if o.started > killed_at]
    failed = [o for o in outcomes if o.error]
    print(
        f"\nkill under load: {len(outcomes)} requests; {len(before)} done before the kill, {len(in_flight)} in flight "
        f"({len(failed)} of them lost), {len(after)} started after (all answered); r2 marked DOWN {down_after:.2f}s after the kill"
    )
    assert states["r2"] == "DOWN" and states["r1"] == "UP", states
    assert all(o.error is None for o in before), [o.error for o in before if o.error]
    assert len(after) >= 4 and all(o.error is None and o.served_by == "r1" for o in after), [(o.error, o.served_by) for o in after if o.error or o.served_by != "r1"]
    # Only requests in flight at the kill failed, and at least the one r2 held did.
    assert failed and all(o in in_flight for o in failed), [(o.started - killed_at, o.error) for o in failed]
    # A request in flight at `killed_at` that succeeded was answered by r1, or by r2 in the moment
    # between `killed_at` and the signal landing (its client read the last byte after `killed_at`).
    assert all(o.served_by in ("r1", "r2") for o in in_flight if o.error is None)
    # Health checks: down after CHECK_FALL failed checks (plus one interval of phase), with slack for a busy machine.
    assert down_after < (CHECK_FALL + 1) * CHECK_INTERVAL_MS / 1000 + 2.0, down_after


def test_stopping_a_replica_gracefully_under_load_loses_nothing(adapters, log_dir, emulator):
    """SIGTERM instead of SIGKILL (a rolling update): the replica finishes what it serves, HAProxy
    moves new requests to the other one, and no client sees an error."""
    emulator.chat_fault("slow_first_byte", delay_ms=300, times=10_000)
    with Replicas.start(adapters, log_dir) as cluster:
        stop = threading.Event()
        outcomes: list[Outcome] = []
        workers = [threading.Thread(target=run_load, args=(cluster.balancer_url, stop, outcomes, i % 2 == 0)) for i in range(4)]
        for worker in workers:
            worker.start()
        try:
            time.sleep(1.0)
            deadline = time.monotonic() + 5
            while int(next(r for r in cluster.haproxy.stats() if r["svname"] == "r2")["scur"]) == 0:
                assert time.monotonic() < deadline, "no request ever in flight on r2"
                time.sleep(0.01)
            stopped_at = time.monotonic()
            cluster.terminate(1)
            stopped_after = time.monotonic() - stopped_at
            cluster.haproxy.wait_for_state("r2", "DOWN", timeout=10)
            time.sleep(1.0)
        finally:
            stop.set()
            for worker in workers:
                worker.join(timeout=60)

    in_flight = [o for o in outcomes if o.started <= stopped_at <= o.ended]
    failed = [o for o in outcomes if o.error]
    print(f"\ngraceful stop under load: {len(outcomes)} requests, {len(in_flight)} in flight at SIGTERM, r2 exited after {stopped_after:.2f}s, {len(failed)} failed")
    assert not failed, [(round(o.started - stopped_at, 3), o.error) for o in failed]
    assert any(o.served_by == "r2" for o in in_flight), "r2 held no request when it was stopped: nothing was drained"
    assert all(o.served_by == "r1" for o in outcomes if o.started > stopped_at + stopped_after)


# --------------------------------------------------------------------------------------------
# Keys, limits, accounts and pass-through across the replicas (KEYS_FILE given to both).

LIMITED_KEY = "limited-" + uuid.uuid4().hex
POOLED_KEY = "pooled-" + uuid.uuid4().hex
FAULTED_KEY = "faulted-" + uuid.uuid4().hex
REQUESTS_PER_MINUTE = 5
# An authorization key of the emulator's client id with a wrong secret: OAuth refuses it (401).
BROKEN_CREDENTIALS = base64.b64encode(b"emulator-client:not-the-secret").decode()


def sha256_hex(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def legacy_base_url(api_base_url: str) -> str:
    """The emulator's API in the older host's layout (`/api/v1`), which serves user/password `/token`."""
    return str(httpx.URL(api_base_url).copy_with(path="/api/v1"))


@pytest.fixture(scope="module")
def policy_replicas(adapters, log_dir, emulator):
    """Two replicas sharing Redis with one KEYS_FILE: a key limited to REQUESTS_PER_MINUTE, and a key
    on a pool whose first account has credentials GigaChat refuses. The default account signs in
    with the emulator's user/password, so the emulator's OAuth key is free to be a pass-through
    caller's own identity."""
    keys_file = log_dir / f"keys-{uuid.uuid4().hex[:8]}.toml"
    keys_file.write_text(
        f"""
[accounts.broken]
credentials = "{BROKEN_CREDENTIALS}"

[pools.failing-first]
accounts = ["broken", "default"]

[accounts.oauth]
credentials = "{emulator.credentials}"

[pools.faulted-first]
accounts = ["oauth", "default"]

[[keys]]
name = "limited"
sha256 = "{sha256_hex(LIMITED_KEY)}"
[keys.limits]
requests_per_minute = {REQUESTS_PER_MINUTE}

[[keys]]
name = "pooled"
sha256 = "{sha256_hex(POOLED_KEY)}"
account = "failing-first"

[[keys]]
name = "faulted"
sha256 = "{sha256_hex(FAULTED_KEY)}"
account = "faulted-first"
"""
    )
    with Replicas.start(
        adapters,
        log_dir,
        KEYS_FILE=str(keys_file),
        GIGACHAT_CREDENTIALS="",
        GIGACHAT_USER="emulator-user",
        GIGACHAT_PASSWORD="emulator-password",
        GIGACHAT_BASE_URL=legacy_base_url(emulator.api_base_url),
        ACCOUNT_COOLDOWN_SECS="300",
    ) as cluster:
        yield cluster


def wait_for_a_fresh_minute(margin: float) -> None:
    """Sleeps into the next minute when fewer than `margin` seconds are left of this one: the
    per-minute windows (on Redis' clock, this machine's) must not roll over mid-test."""
    left = 60 - time.time() % 60
    if left < margin:
        time.sleep(left + 0.2)


def test_a_key_limited_per_minute_gets_exactly_its_requests_across_both_replicas(policy_replicas, emulator):
    wait_for_a_fresh_minute(margin=5)
    client = openai.OpenAI(base_url=f"{policy_replicas.balancer_url}/v1", api_key=LIMITED_KEY, max_retries=0, timeout=30)
    answered, refused = [], []
    with client:
        for _ in range(REQUESTS_PER_MINUTE + 3):
            try:
                raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=[{"role": "user", "content": "Привет"}])
                assert raw.parse().choices[0].message.content.strip()
                answered.append(raw.headers)
            except openai.RateLimitError as error:
                refused.append(error)
    assert len(answered) == REQUESTS_PER_MINUTE and len(refused) == 3, (len(answered), [e.message for e in refused])
    # Both replicas served the key, and they counted it together (Redis), not each up to the limit.
    assert sorted({h["x-served-by"] for h in answered}) == ["r1", "r2"]
    assert [int(h["x-ratelimit-remaining-requests"]) for h in answered] == list(range(REQUESTS_PER_MINUTE - 1, -1, -1))
    assert all(h["x-ratelimit-limit-requests"] == str(REQUESTS_PER_MINUTE) for h in answered)
    assert sorted({e.response.headers["x-served-by"] for e in refused}) == ["r1", "r2"]
    for error in refused:
        headers = error.response.headers
        assert error.status_code == 429 and error.code == "rate_limit_exceeded", error.body
        assert 1 <= int(headers["retry-after"]) <= 60, headers
        assert headers["x-ratelimit-limit-requests"] == str(REQUESTS_PER_MINUTE)
        assert headers["x-ratelimit-remaining-requests"] == "0"
        assert headers["x-ratelimit-reset-requests"], headers
    # Only the admitted requests reached GigaChat.
    assert len(emulator.chat_requests()) == REQUESTS_PER_MINUTE


def test_a_pool_with_a_refused_account_keeps_answering_through_the_other(policy_replicas, emulator):
    """The pool tries `broken` first (first in its list, both idle); GigaChat's OAuth refuses its
    key, so the request runs again on `default`. Each replica pays that once, then cools `broken` down."""
    with openai.OpenAI(base_url=f"{policy_replicas.balancer_url}/v1", api_key=POOLED_KEY, max_retries=0, timeout=30) as client:
        served = []
        for _ in range(6):
            raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=[{"role": "user", "content": "Как дела?"}])
            assert raw.parse().choices[0].message.content.strip()
            served.append(raw.headers["x-served-by"])
    assert sorted(set(served)) == ["r1", "r2"]
    requests = emulator.requests()
    oauth = [r for r in requests if r["listener"] == "oauth"]
    refused = [r for r in oauth if dict(r["headers"]).get("authorization") == f"Basic {BROKEN_CREDENTIALS}"]
    # The broken account was really tried (and refused) by each replica, once: then it cooled down.
    assert len(refused) == 2 and all(r["status"] == 401 for r in refused), [(r["status"], r["path"]) for r in oauth]
    chats = [r for r in requests if r["listener"] == "api" and r["path"].endswith("/chat/completions")]
    assert len(chats) == 6 and all(r["status"] == 200 for r in chats), [r["status"] for r in chats]


def bearer_of(request: dict) -> str:
    return dict(request["headers"])["authorization"]


@pytest.mark.parametrize("status", [429, 503])
def test_a_pool_account_failing_at_gigachat_passes_the_request_to_the_other(policy_replicas, emulator, status):
    """GigaChat answers the pool's first account (`oauth`, its OAuth key) 429 or 503 once: the same
    request runs again on `default` (another identity), and the client gets the answer."""
    replica = policy_replicas.urls[0 if status == 429 else 1]
    emulator.chat_fault("status", status=status, times=1)
    with openai.OpenAI(base_url=f"{replica}/v1", api_key=FAULTED_KEY, max_retries=0, timeout=30) as client:
        completion = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Сколько будет два плюс два?"}])
    assert completion.choices[0].message.content.strip()
    chats = [r for r in emulator.requests() if r["listener"] == "api" and r["path"].endswith("/chat/completions")]
    assert [r["status"] for r in chats] == [status, 200], [r["status"] for r in chats]
    assert bearer_of(chats[0]) != bearer_of(chats[1]), "the retry went to the same account"
    assert json.loads(chats[0]["body"]) == json.loads(chats[1]["body"])


def test_pass_through_credentials_are_their_own_identity_and_files_never_mix(policy_replicas, emulator):
    """The same image from a pass-through caller (the emulator's OAuth key in X-GigaChat-Authorization)
    and from a caller on the default account (user/password), each through both replicas: two
    uploads, one per identity, each made with its caller's own token, and each chat attaches its
    own identity's file (the emulator answers 404 for another identity's file)."""
    image = png(uuid.uuid4().hex)
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Что здесь?"}, {"type": "image_url", "image_url": {"url": data_url("image/png", image)}}]}],
    }
    passthrough = {"X-GigaChat-Authorization": emulator.credentials}
    for url in policy_replicas.urls:
        for headers in (passthrough, {}):
            with openai.OpenAI(base_url=f"{url}/v1", api_key=API_KEY, max_retries=0, timeout=30, default_headers=headers) as client:
                completion = client.chat.completions.create(**body)
            assert completion.choices[0].message.content.strip()
    requests = emulator.requests()
    # The caller's own key reached GigaChat's OAuth, once per replica (the default account never
    # uses OAuth here: it signs in with user/password).
    oauth = [r for r in requests if r["listener"] == "oauth"]
    assert [(r["status"], dict(r["headers"]).get("authorization")) for r in oauth] == [(200, f"Basic {emulator.credentials}")] * 2
    uploads = [r for r in requests if r["listener"] == "api" and r["method"] == "POST" and r["path"].endswith("/v1/files")]
    assert len(uploads) == 2 and all(r["status"] == 200 for r in uploads), [(r["status"], r["path"]) for r in uploads]
    assert bearer_of(uploads[0]) != bearer_of(uploads[1]), "both uploads were made with one token"
    chats = [r for r in requests if r["listener"] == "api" and r["path"].endswith("/chat/completions")]
    assert len(chats) == 4 and all(r["status"] == 200 for r in chats), [r["status"] for r in chats]
    # In order: per replica, the pass-through caller's chat, then the default account's.
    attached = []
    for chat in chats:
        messages = json.loads(chat["body"])["messages"]
        attached.append((bearer_of(chat), [file_id for m in messages for file_id in m.get("attachments") or []]))
    (own_file,) = attached[0][1]
    (default_file,) = attached[1][1]
    assert own_file != default_file
    assert [ids for _, ids in attached] == [[own_file], [default_file]] * 2, attached
    # Each token (one per identity and replica) sees its identity's file at GigaChat, never the other's.
    verify = ssl.create_default_context(cafile=str(emulator.ca_pem))
    with httpx.Client(verify=verify, timeout=10, trust_env=False) as http:
        for token, ids in attached:
            listed = http.get(f"{emulator.api_base_url}/files", headers={"authorization": token})
            assert listed.status_code == 200, listed.text
            assert {f["id"] for f in listed.json()["data"]} & {own_file, default_file} == set(ids)


# --------------------------------------------------------------------------------------------
# One GigaChat account serving one request at a time (the personal tier), shared by the replicas.

LEASE_SECS = 2
# Stream events 150 ms apart: an answer of 24 words, 3 per event, streams for about 1.2 s.
EVENT_GAP_MS = 150


@pytest.fixture(scope="module")
def personal_tier(log_dir):
    """An emulator of its own that answers 429 to a second request in flight per identity (the
    personal tier), and a factory of adapters pointed at it."""
    own_dir = log_dir / f"personal-tier-{uuid.uuid4().hex[:8]}"
    own_dir.mkdir()
    emulator = start_emulator(own_dir, "--concurrency-limit", "1", "--event-gap-ms", str(EVENT_GAP_MS))
    factory = AdapterFactory(emulator, own_dir)
    try:
        yield emulator, factory, own_dir
    finally:
        factory.stop_all()
        emulator.http.close()
        emulator.process.stop()


@dataclass
class Streamed:
    first_content: float
    ended: float
    text: str


def stream_once(root_url: str, prompt: str) -> Streamed:
    """One streamed chat through the OpenAI SDK: when its first content arrived, when it ended, its text."""
    first = None
    parts = []
    with openai.OpenAI(base_url=f"{root_url}/v1", api_key=API_KEY, max_retries=0, timeout=30) as client:
        for chunk in client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": prompt}], stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                first = first or time.monotonic()
                parts.append(chunk.choices[0].delta.content)
    assert first is not None, "the stream carried no content"
    return Streamed(first, time.monotonic(), "".join(parts))


def test_an_account_serving_one_at_a_time_serialises_streams_of_both_replicas(personal_tier):
    """Two streams sent at once, one to each replica, on an account of `max_concurrent` 1: the
    second waits for the first's lease in Redis instead of reaching GigaChat, which would 429 it."""
    emulator, factory, own_dir = personal_tier
    with Replicas.start(factory, own_dir, GIGACHAT_ACCOUNT_MAX_CONCURRENT="1", ACCOUNT_LEASE_SECS=str(LEASE_SECS)) as cluster:
        emulator.clear_requests()
        barrier = threading.Barrier(2)
        results: list[Streamed | BaseException] = [None, None]  # type: ignore[list-item]

        def run(index: int) -> None:
            barrier.wait()
            try:
                results[index] = stream_once(cluster.urls[index], f"Расскажи о реке номер {index}")
            except BaseException as error:  # noqa: BLE001 - reported below
                results[index] = error

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert all(isinstance(r, Streamed) for r in results), results
    earlier, later = sorted(results, key=lambda r: r.first_content)  # type: ignore[union-attr]
    # Serialised: the later stream's first words came after the earlier one had ended.
    assert later.first_content >= earlier.ended - 0.05, (earlier, later)
    chats = [r for r in emulator.requests() if r["listener"] == "api" and r["path"].endswith("/chat/completions")]
    assert [r["status"] for r in chats] == [200, 200], "GigaChat saw a second stream in flight (429)"


def test_a_replica_killed_mid_stream_frees_its_account_slot_within_the_lease(personal_tier):
    """Replica 1 holds the only slot of the account with a stream and is SIGKILLed: its lease in
    Redis is not released, only expires; a stream on replica 2 starts within about the lease time."""
    emulator, factory, own_dir = personal_tier
    with Replicas.start(factory, own_dir, GIGACHAT_ACCOUNT_MAX_CONCURRENT="1", ACCOUNT_LEASE_SECS=str(LEASE_SECS)) as cluster:
        emulator.clear_requests()
        with openai.OpenAI(base_url=f"{cluster.urls[0]}/v1", api_key=API_KEY, max_retries=0, timeout=30) as client:
            stream = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Расскажи длинную историю"}], stream=True)
            chunks = iter(stream)
            while not (chunk := next(chunks)).choices or not chunk.choices[0].delta.content:
                pass
            leases = cluster.redis.keys("gigachat-adapter:account:*")
            assert leases, "no account lease in Redis while the stream runs"
            killed_at = time.monotonic()
            cluster.kill(0)
            with pytest.raises((httpx.HTTPError, openai.APIError)):
                for _ in chunks:
                    pass
        other = stream_once(cluster.urls[1], "А теперь о море")
    waited = other.first_content - killed_at
    print(f"\nthe killed replica's slot was taken over {waited:.2f}s after the kill (lease {LEASE_SECS}s)")
    # It had to wait for the lease (renewed every third of it) to run out, and no longer.
    assert LEASE_SECS / 3 - 0.2 <= waited <= LEASE_SECS + 1.5, waited
    assert other.text.strip()
    chats = [r for r in emulator.requests() if r["listener"] == "api" and r["path"].endswith("/chat/completions")]
    assert all(r["status"] in (0, 200) for r in chats) and len(chats) == 2, [r["status"] for r in chats]
