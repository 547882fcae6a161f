"""The Files API (`/v1/files`) with the openai SDK: upload, list, retrieve, download, use by
`file_id` in a chat, delete. Raw JSON of every file object is validated against the OpenAI
description (`OpenAIFile`, `ListFilesResponse`, `DeleteFileResponse`)."""

from __future__ import annotations

import uuid

import openai
import pytest

from support import assert_error_envelope, png

MODEL = "GigaChat"


def upload(client, validate, content: bytes, name: str = "chart.png", mime: str = "image/png"):
    """`client.files.create(...)`; validates the raw JSON and returns the SDK's FileObject."""
    raw = client.files.with_raw_response.create(file=(name, content, mime), purpose="user_data")
    validate("OpenAIFile", raw.http_response.json())
    return raw.parse()


def file_part(file_id: str) -> dict:
    return {"type": "file", "file": {"file_id": file_id}}


def ask_about(client, file_id: str):
    return client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": [{"type": "text", "text": "Что на графике?"}, file_part(file_id)]}],
    )


def test_upload_returns_an_openai_file_object(client, validate):
    content = png(uuid.uuid4().hex)
    created = upload(client, validate, content)
    assert created.object == "file" and created.id, created
    assert created.bytes == len(content), created
    assert created.filename == "chart.png", created
    assert created.purpose == "user_data", created
    assert created.created_at > 0, created


def test_uploaded_file_is_listed_retrieved_and_downloaded(client, validate):
    content = png(uuid.uuid4().hex)
    created = upload(client, validate, content)

    raw_list = client.files.with_raw_response.list()
    validate("ListFilesResponse", raw_list.http_response.json())
    listed = {f.id: f for f in raw_list.parse()}
    assert created.id in listed, f"{created.id} not in {list(listed)}"
    assert listed[created.id].bytes == len(content), listed[created.id]

    raw_file = client.files.with_raw_response.retrieve(created.id)
    validate("OpenAIFile", raw_file.http_response.json())
    retrieved = raw_file.parse()
    assert (retrieved.id, retrieved.filename, retrieved.bytes) == (created.id, "chart.png", len(content))

    assert client.files.content(created.id).read() == content


def test_uploaded_file_id_is_attached_in_chat_without_another_upload(client, emulator, validate):
    created = upload(client, validate, png(uuid.uuid4().hex))
    emulator.clear_requests()
    completion = ask_about(client, created.id)
    assert completion.choices[0].message.content.strip(), completion
    assert emulator.file_uploads() == [], "a file_id part was uploaded again"
    [call] = emulator.chat_requests()
    attached = [m["attachments"] for m in call["json"]["messages"] if m.get("attachments")]
    assert attached == [[created.id]], call["json"]["messages"]


def test_deleted_file_is_gone(client, emulator, validate):
    created = upload(client, validate, png(uuid.uuid4().hex))
    raw = client.files.with_raw_response.delete(created.id)
    validate("DeleteFileResponse", raw.http_response.json())
    deleted = raw.parse()
    assert (deleted.id, deleted.deleted) == (created.id, True), deleted

    with pytest.raises(openai.NotFoundError) as caught:
        client.files.retrieve(created.id)
    assert_error_envelope(validate, caught.value, status=404, code="file_not_found")
    with pytest.raises(openai.NotFoundError):
        client.files.content(created.id)
    with pytest.raises(openai.NotFoundError):
        client.files.delete(created.id)


def test_chat_with_a_deleted_file_id_is_file_not_found(client, emulator, validate):
    created = upload(client, validate, png(uuid.uuid4().hex))
    client.files.delete(created.id)
    emulator.clear_requests()
    with pytest.raises(openai.BadRequestError) as caught:
        ask_about(client, created.id)
    error = assert_error_envelope(validate, caught.value, status=400, code="file_not_found")
    assert error["param"] == "messages[0].content[1]", error
    assert emulator.chat_requests() == [], "the chat went upstream with an unknown file id"


def test_unsupported_upload_is_400_and_not_sent_upstream(client, emulator, validate):
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(file=("blob.bin", b"just some bytes", "application/octet-stream"), purpose="user_data")
    assert_error_envelope(validate, caught.value, status=400)
    assert emulator.file_uploads() == [], "an unsupported file went upstream"
