"""The Files API (`/v1/files`) with the openai SDK: upload, list, retrieve, download, use by
`file_id` in a chat, delete. Raw JSON of every file object is validated against the OpenAI
description (`OpenAIFile`, `ListFilesResponse`, `DeleteFileResponse`)."""

from __future__ import annotations

import uuid

import openai
import pytest

from support import assert_error_envelope, png

MODEL = "GigaChat"


def upload(client, validate, content: bytes, name: str = "chart.png", mime: str = "image/png", purpose: str = "user_data"):
    """`client.files.create(...)`; validates the raw JSON and returns the SDK's FileObject."""
    raw = client.files.with_raw_response.create(file=(name, content, mime), purpose=purpose)
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


def test_purpose_is_kept_and_lists_filter_by_it(client, validate):
    mine = upload(client, validate, png(uuid.uuid4().hex), purpose="assistants")
    other = upload(client, validate, png(uuid.uuid4().hex), purpose="user_data")
    assert mine.purpose == "assistants", mine
    assert client.files.retrieve(mine.id).purpose == "assistants"

    raw = client.files.with_raw_response.list(purpose="assistants")
    validate("ListFilesResponse", raw.http_response.json())
    listed = {f.id: f.purpose for f in raw.parse()}
    assert listed.get(mine.id) == "assistants", listed
    assert other.id not in listed, listed
    assert set(listed.values()) == {"assistants"}, listed


def test_list_pages_with_limit_and_after(client, validate):
    for _ in range(3):
        upload(client, validate, png(uuid.uuid4().hex))
    everything = [f.id for f in client.files.list()]
    first_page = client.files.list(limit=2)
    assert [f.id for f in first_page.data] == everything[:2]
    assert first_page.has_more is True
    # The SDK's auto-pagination follows `after` to the end and meets every file once.
    assert [f.id for f in client.files.list(limit=2)] == everything
    oldest_first = [f.id for f in client.files.list(order="asc")]
    assert sorted(oldest_first) == sorted(everything)


@pytest.mark.parametrize("purpose", ["general", "nonsense"])
def test_unknown_purpose_is_400_and_not_sent_upstream(client, emulator, validate, purpose):
    emulator.clear_requests()
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(file=("chart.png", png(uuid.uuid4().hex), "image/png"), purpose=purpose)
    error = assert_error_envelope(validate, caught.value, status=400)
    assert error["param"] == "purpose", error
    assert emulator.file_uploads() == [], "a file with an unknown purpose went upstream"


def test_expires_after_is_reported_and_validated(client, emulator, validate):
    raw = client.files.with_raw_response.create(
        file=("chart.png", png(uuid.uuid4().hex), "image/png"),
        purpose="batch",
        expires_after={"anchor": "created_at", "seconds": 7200},
    )
    validate("OpenAIFile", raw.http_response.json())
    created = raw.parse()
    assert created.expires_at == created.created_at + 7200, created
    assert client.files.retrieve(created.id).expires_at == created.expires_at
    listed = {f.id: f.expires_at for f in client.files.list(purpose="batch")}
    assert listed[created.id] == created.expires_at, listed

    emulator.clear_requests()
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(
            file=("chart.png", png(uuid.uuid4().hex), "image/png"),
            purpose="batch",
            expires_after={"anchor": "created_at", "seconds": 60},
        )
    error = assert_error_envelope(validate, caught.value, status=400)
    assert error["param"] == "expires_after.seconds", error
    assert emulator.file_uploads() == [], "a file with a bad expiry went upstream"
