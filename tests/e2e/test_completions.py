"""Legacy completions with the openai SDK (`client.completions.create`), streaming and not, and the
raw bodies and chunks against the OpenAI schema."""

from __future__ import annotations

import openai
import pytest

from support import assert_error_envelope, sse_json_chunks

PROMPT = "Привет! Что ты умеешь?"


def test_completion_matches_the_chat_answer(client, emulator):
    chat = client.chat.completions.create(model="GigaChat", messages=[{"role": "user", "content": PROMPT}])
    emulator.clear_requests()
    completion = client.completions.create(model="GigaChat", prompt=PROMPT, max_tokens=200)
    assert completion.object == "text_completion"
    assert completion.id.startswith("cmpl-")
    assert completion.model.startswith("GigaChat")
    [choice] = completion.choices
    assert choice.index == 0 and choice.logprobs is None and choice.finish_reason == "stop"
    assert choice.text == chat.choices[0].message.content
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    [sent] = emulator.chat_requests()
    assert sent["json"]["messages"] == [{"role": "user", "content": PROMPT}]
    assert sent["json"]["max_tokens"] == 200


def test_prompts_times_n_and_stop(client):
    completion = client.completions.create(model="GigaChat", prompt=["один", "два"], n=2, stop=["never-there"])
    assert [c.index for c in completion.choices] == [0, 1, 2, 3]
    assert completion.choices[0].text == completion.choices[1].text != completion.choices[2].text
    text = completion.choices[0].text
    cut_at = text.split(" ")[2]
    stopped = client.completions.create(model="GigaChat", prompt="один", stop=cut_at)
    assert stopped.choices[0].text == text[: text.index(cut_at)]
    assert stopped.choices[0].finish_reason == "stop"


def test_stream_yields_text_deltas_then_usage(client):
    whole = client.completions.create(model="GigaChat", prompt=PROMPT).choices[0].text
    chunks = list(
        client.completions.create(model="GigaChat", prompt=PROMPT, stream=True, stream_options={"include_usage": True})
    )
    *content, usage = chunks
    assert len(content) > 1
    assert all(c.object == "text_completion" and c.id == content[0].id for c in content)
    assert "".join(c.choices[0].text for c in content) == whole
    assert [c.choices[0].finish_reason for c in content][-1] == "stop"
    assert usage.choices == [] and usage.usage.completion_tokens > 0


def test_raw_bodies_and_chunks_match_the_openai_schema(http, auth, validate):
    response = http.post("/v1/completions", headers=auth, json={"prompt": ["a", "b"]})
    assert response.status_code == 200, response.text
    validate("CreateCompletionResponse", response.json())
    response = http.post("/completions", headers=auth, json={"prompt": "a", "stream": True, "n": 2})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    chunks = sse_json_chunks(response.content)
    for chunk in chunks:
        # Like OpenAI, a choice's finish_reason is null until it ends; the schema describes whole answers.
        for choice in chunk["choices"]:
            choice["finish_reason"] = choice["finish_reason"] or "stop"
        validate("CreateCompletionResponse", chunk)
    assert {c["choices"][0]["index"] for c in chunks} == {0, 1}


@pytest.mark.parametrize(
    "extra, param",
    [({"echo": True}, "echo"), ({"suffix": "}"}, "suffix"), ({"logprobs": 2}, "logprobs"), ({"best_of": 2}, "best_of")],
)
def test_unsupported_options_are_refused_by_name(client, validate, extra, param):
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model="GigaChat", prompt="x", **extra)
    assert assert_error_envelope(validate, caught.value, status=400)["param"] == param
