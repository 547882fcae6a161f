"""GigaChat's built-in tools through the real SDKs (issue 18): the adapter on GIGACHAT_API_VERSION=2
in front of the emulator's scripted built-ins (`search:` → a web search with `[sources=[n]]` markers
and two sources, `code:` → the code interpreter, drawing prompts → `image_generate`). Chat
`web_search_options` → `message.annotations`; `images.generate` (b64_json and url, on both
contracts); Responses `web_search_call` / `image_generation_call` / `code_interpreter_call` items
validated against the OpenAI description; Anthropic's web search server tool blocks and citations
as the Anthropic SDK parses them."""

from __future__ import annotations

import base64

import httpx
import pytest

import anthropic_support

MODEL = "GigaChat"
JPEG_MAGIC = b"\xff\xd8\xff"
SEARCH = "search: что нового в Python 3.14?"


@pytest.fixture(scope="module")
def v2(adapters):
    return adapters.start(GIGACHAT_API_VERSION="2")


@pytest.fixture(scope="module")
def v2_client(v2):
    client = v2.client()
    yield client
    client.close()


def marks(text: str, citations) -> list[str]:
    """The text each citation's span covers."""
    return [text[c.start_index : c.end_index] for c in citations]


def test_chat_web_search_options_come_back_as_url_citations(v2_client, emulator):
    answer = v2_client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": SEARCH}],
        web_search_options={"search_context_size": "low"},
    )
    message = answer.choices[0].message
    assert message.annotations, message
    cited = [a.url_citation for a in message.annotations]
    assert all(a.type == "url_citation" for a in message.annotations)
    assert all(mark.startswith("[") and mark.endswith("]") for mark in marks(message.content, cited)), message.content
    assert all(c.url.startswith("https://example.org/") and c.title for c in cited)
    assert "[sources=" not in message.content
    [call] = emulator.chat_requests()
    assert call["path"].endswith("/v2/chat/completions")
    assert call["json"]["tools"] == [{"web_search": {"type": "actual_info_web_search"}}]


def test_streamed_chat_carries_the_citations_on_its_last_chunk(v2_client):
    stream = v2_client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": SEARCH}],
        web_search_options={},
        stream=True,
    )
    text, annotations = "", []
    for chunk in stream:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        text += delta.content or ""
        if chunk.choices[0].finish_reason:
            annotations = delta.to_dict().get("annotations", [])
    assert annotations, "no annotations on the last chunk"
    spans = [text[a["url_citation"]["start_index"] : a["url_citation"]["end_index"]] for a in annotations]
    assert all(span.startswith("[") and span.endswith("]") for span in spans), (text, spans)


def test_web_search_options_on_v1_are_refused_naming_them(client):
    import openai

    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], web_search_options={}
        )
    assert refused.value.body["param"] == "web_search_options"
    assert "GIGACHAT_API_VERSION=2" in refused.value.body["message"]


@pytest.mark.parametrize("contract", ["v1", "v2"])
def test_images_generate_b64_json_and_url(contract, client, v2_client, emulator):
    images_client = v2_client if contract == "v2" else client
    drawn = images_client.images.generate(model="gpt-image-1", prompt="a red cat", n=2, size="1024x1024")
    assert len(drawn.data) == 2
    for image in drawn.data:
        assert base64.b64decode(image.b64_json).startswith(JPEG_MAGIC)
    calls = emulator.chat_requests()
    assert len(calls) == 2
    if contract == "v2":
        assert calls[0]["json"]["tool_config"] == {"mode": "forced", "tool_name": "image_generate"}
    linked = images_client.images.generate(model="dall-e-3", prompt="a cat", response_format="url")
    [image] = linked.data
    file_id = image.url.split("/v1/files/")[1].split("/")[0]
    assert images_client.files.content(file_id).read().startswith(JPEG_MAGIC)


def raw_response(client, **body):
    """A Responses answer as JSON and as the SDK parses it."""
    raw = client.responses.with_raw_response.create(model=MODEL, **body)
    return raw.http_response.json(), raw.parse()


def test_responses_web_search_is_a_call_item_then_cited_text(v2_client, validate):
    body, parsed = raw_response(v2_client, input=SEARCH, tools=[{"type": "web_search"}])
    validate("Response", body)
    search, message = parsed.output[0], parsed.output[1]
    assert search.type == "web_search_call" and search.status == "completed"
    assert [s.url for s in search.action.sources], search
    text = message.content[0]
    assert text.annotations and all(a.type == "url_citation" for a in text.annotations)
    assert all(m.startswith("[") for m in marks(text.text, text.annotations)), text.text
    assert parsed.output_text == text.text


def test_responses_stream_announces_the_search_and_its_citations(v2_client, validate):
    events = list(v2_client.responses.create(model=MODEL, input=SEARCH, tools=[{"type": "web_search_preview"}], stream=True))
    for event in events:
        validate.stream_event(event.model_dump(mode="json", exclude_unset=True))
    names = [event.type for event in events]
    assert names.index("response.web_search_call.completed") < names.index("response.output_text.delta")
    assert "response.output_text.annotation.added" in names
    assert events[-1].type == "response.completed"
    assert events[-1].response.output[0].type == "web_search_call"


def test_responses_image_generation_and_code_interpreter_items(v2_client, validate):
    body, drawn = raw_response(v2_client, input="draw a cat", tools=[{"type": "image_generation"}], store=False)
    validate("Response", body)
    image = drawn.output[0]
    assert image.type == "image_generation_call" and image.status == "completed"
    assert base64.b64decode(image.result).startswith(JPEG_MAGIC)
    body, coded = raw_response(
        v2_client, input="code: 2**100", tools=[{"type": "code_interpreter", "container": {"type": "auto"}}], store=False
    )
    validate("Response", body)
    run = coded.output[0]
    assert run.type == "code_interpreter_call" and run.code is None and run.outputs is None and run.container_id
    assert coded.output[1].type == "message"


def test_anthropic_web_search_server_tool_blocks(v2):
    client = anthropic_support.client(v2)
    tools = [{"type": "web_search_20250305", "name": "web_search", "max_uses": 2}]
    messages = [{"role": "user", "content": SEARCH}]
    raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=300, messages=messages, tools=tools)
    assert "x-gigachat-adapter-dropped-tools" not in raw.http_response.headers
    message = anthropic_support.strict_message(raw.http_response.content)
    use, result, text = message.content[0], message.content[1], message.content[2]
    assert use.type == "server_tool_use" and use.name == "web_search" and use.input == {"query": SEARCH}
    assert result.type == "web_search_tool_result" and result.tool_use_id == use.id
    assert [r.url for r in result.content] and all(r.encrypted_content for r in result.content)
    assert text.type == "text" and text.citations
    assert all(c.type == "web_search_result_location" and c.cited_text for c in text.citations)
    assert message.usage.server_tool_use.web_search_requests == 1

    with client.messages.stream(model=MODEL, max_tokens=300, messages=messages, tools=tools) as stream:
        final = stream.get_final_message()
    kinds = [block.type for block in final.content]
    assert kinds[:2] == ["server_tool_use", "web_search_tool_result"], kinds
    streamed_text = [block for block in final.content if block.type == "text"]
    assert streamed_text and streamed_text[-1].citations, final.content


def test_images_generations_without_v1_prefix(v2, v2_client):
    response = httpx.post(
        f"{v2.root_url}/images/generations",
        headers={"Authorization": f"Bearer {v2_client.api_key}"},
        json={"prompt": "a cat", "n": 11},
        timeout=30,
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "n"
