"""Usage through the official `openai` SDK: GigaChat's `prompt_tokens` leaves out the
`precached_prompt_tokens` (every recording has total = prompt + completion while cached > 0), OpenAI's
counts them, so the adapter reports prompt = GigaChat's prompt + cached and `cached_tokens` = cached.

The emulator answers as recorded; one `user` (GigaChat's X-Session-ID) makes the second call a cache hit.
"""

from __future__ import annotations

import uuid

MODEL = "GigaChat-2"
FIRST_TURN = [{"role": "user", "content": "Say 'Hello' and nothing else"}]
FOLLOW_UP = FIRST_TURN + [{"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Again"}]


def consistent(usage) -> int:
    """Checks OpenAI's arithmetic and returns the cached tokens."""
    cached = usage.prompt_tokens_details.cached_tokens
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens, usage
    assert 0 <= cached <= usage.prompt_tokens, usage
    return cached


def test_cached_tokens_are_counted_inside_prompt_tokens(client):
    session = f"usage-{uuid.uuid4()}"
    client.chat.completions.create(model=MODEL, messages=FIRST_TURN, user=session)
    warm = client.chat.completions.create(model=MODEL, messages=FOLLOW_UP, user=session)
    cold = client.chat.completions.create(model=MODEL, messages=FOLLOW_UP, user=f"other-{uuid.uuid4()}")
    assert consistent(warm.usage) > 0, warm.usage
    assert consistent(cold.usage) == 0, cold.usage
    # A cache hit changes what is billed, not how long the prompt is.
    assert warm.usage.prompt_tokens == cold.usage.prompt_tokens, (warm.usage, cold.usage)


def test_stream_usage_chunk_counts_cached_tokens_too(client):
    session = f"usage-{uuid.uuid4()}"
    client.chat.completions.create(model=MODEL, messages=FIRST_TURN, user=session)
    stream = client.chat.completions.create(
        model=MODEL, messages=FOLLOW_UP, user=session, stream=True, stream_options={"include_usage": True}
    )
    usages = [chunk.usage for chunk in stream if chunk.usage is not None]
    assert len(usages) == 1, usages
    cold = client.chat.completions.create(model=MODEL, messages=FOLLOW_UP, user=f"other-{uuid.uuid4()}")
    assert consistent(usages[0]) > 0, usages[0]
    assert usages[0].prompt_tokens == cold.usage.prompt_tokens, (usages[0], cold.usage)


def test_completions_usage_counts_cached_tokens(client):
    session = f"usage-{uuid.uuid4()}"
    prompt = "Count from 1 to 3"
    first = client.completions.create(model=MODEL, prompt=prompt, user=session)
    again = client.completions.create(model=MODEL, prompt=prompt, user=session)
    assert consistent(first.usage) == 0, first.usage
    assert consistent(again.usage) > 0, again.usage
    assert again.usage.prompt_tokens == first.usage.prompt_tokens, (first.usage, again.usage)
