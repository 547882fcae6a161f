"""Stored responses with the openai SDK: `previous_response_id`, retrieve, delete, input_items.

`store` defaults to true (as at OpenAI): the response and its input items are kept per caller key.
The history a `previous_response_id` rebuilds is checked in the chat request GigaChat got (the
emulator's request log); `instructions` are not carried over, as OpenAI documents.
"""

from __future__ import annotations

import openai
import pytest

from support import SECOND_KEY, assert_error_envelope

MODEL = "GigaChat"


def test_previous_response_id_continues_the_conversation(client, validate, emulator):
    first = client.responses.create(model=MODEL, instructions="Be terse.", input="My name is Ada.", store=True)
    second = client.responses.create(model=MODEL, previous_response_id=first.id, input="What is my name?")
    assert second.previous_response_id == first.id and second.output_text.strip()
    messages = emulator.chat_requests()[-1]["json"]["messages"]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "My name is Ada."),
        ("assistant", first.output_text),
        ("user", "What is my name?"),
    ], messages

    # A chain of three: the second answer is history too, with this turn's own instructions.
    client.responses.create(model=MODEL, previous_response_id=second.id, input="And again?", instructions="Answer in English.")
    messages = emulator.chat_requests()[-1]["json"]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"], messages
    assert "Answer in English." in messages[0]["content"] and "Be terse." not in messages[0]["content"]
    assert messages[4]["content"] == second.output_text


def test_previous_response_id_after_a_function_call(client, emulator):
    weather = {
        "type": "function",
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        "strict": False,
    }
    first = client.responses.create(model=MODEL, input='call:get_weather args:{"city": "Omsk"}', tools=[weather])
    [call] = first.output
    assert call.type == "function_call"
    second = client.responses.create(
        model=MODEL,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": '{"temperature": -20}'}],
        tools=[weather],
    )
    assert second.output_text.strip()
    messages = emulator.chat_requests()[-1]["json"]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "function"], messages
    assert messages[1]["function_call"]["name"] == "get_weather"
    assert messages[1]["function_call"]["arguments"] == {"city": "Omsk"}


def test_retrieve_returns_the_stored_response(client, http, auth, validate):
    created = client.responses.create(model=MODEL, input="Remember this.", metadata={"k": "v"})
    raw = http.get(f"/v1/responses/{created.id}", headers=auth)
    assert raw.status_code == 200, raw.text
    validate("Response", raw.json())
    retrieved = client.responses.retrieve(created.id)
    assert retrieved.id == created.id and retrieved.output_text == created.output_text
    assert retrieved.metadata == {"k": "v"} and retrieved.status == "completed"
    assert retrieved.usage.total_tokens == created.usage.total_tokens
    # Root path too, like every other route.
    assert http.get(f"/responses/{created.id}", headers=auth).json()["id"] == created.id


def test_input_items_lists_the_input_newest_first_and_pages(client, validate):
    created = client.responses.create(
        model=MODEL,
        input=[
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": "two"},
            {"role": "user", "content": "three"},
        ],
    )
    page = client.responses.input_items.list(created.id)
    texts = [item.content[0].text for item in page.data]
    assert texts == ["three", "two", "one"], page
    for item in page.data:
        assert item.id, item
        # `InputItem` is a oneOf whose message variants overlap (a listed message fits two), so each
        # is checked against the one schema that describes it.
        validate("OutputMessage" if item.role == "assistant" else "InputMessage", item.model_dump(mode="json", exclude_none=True))
    ascending = client.responses.input_items.list(created.id, order="asc", limit=2)
    assert [item.content[0].text for item in ascending.data] == ["one", "two"]
    assert ascending.has_more is True and ascending.first_id == ascending.data[0].id and ascending.last_id == ascending.data[1].id
    rest = client.responses.input_items.list(created.id, order="asc", after=ascending.last_id)
    assert [item.content[0].text for item in rest.data] == ["three"] and rest.has_more is False
    # The SDK's auto-pagination walks the same pages.
    assert [item.content[0].text for item in client.responses.input_items.list(created.id, order="asc", limit=1)] == ["one", "two", "three"]


def test_delete_removes_the_response(client, validate):
    created = client.responses.create(model=MODEL, input="Forget this.")
    client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.retrieve(created.id)
    assert_error_envelope(validate, caught.value, status=404)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(created.id)


def test_store_false_keeps_nothing(client, validate):
    created = client.responses.create(model=MODEL, input="Do not keep this.", store=False)
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.retrieve(created.id)
    assert_error_envelope(validate, caught.value, status=404)
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(model=MODEL, previous_response_id=created.id, input="Next")
    assert_error_envelope(validate, caught.value, status=404, code="previous_response_not_found")


def test_another_key_cannot_read_or_continue_a_response(client, adapter, validate):
    created = client.responses.create(model=MODEL, input="Mine.")
    other = adapter.client(api_key=SECOND_KEY)
    with pytest.raises(openai.NotFoundError):
        other.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        other.responses.input_items.list(created.id)
    with pytest.raises(openai.NotFoundError) as caught:
        other.responses.create(model=MODEL, previous_response_id=created.id, input="Yours?")
    assert_error_envelope(validate, caught.value, status=404, code="previous_response_not_found")
    assert client.responses.retrieve(created.id).id == created.id


def test_unknown_previous_response_id_is_404(client, validate, emulator):
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(model=MODEL, previous_response_id="resp_does_not_exist", input="Hi")
    error = assert_error_envelope(validate, caught.value, status=404, code="previous_response_not_found")
    assert error["param"] == "previous_response_id", error
    assert emulator.chat_requests() == []


def test_streaming_a_stored_response_is_400(http, auth, client, validate):
    created = client.responses.create(model=MODEL, input="Hi")
    response = http.get(f"/v1/responses/{created.id}", params={"stream": "true"}, headers=auth)
    error = assert_error_envelope(validate, response, status=400)
    assert error["param"] == "stream", error
