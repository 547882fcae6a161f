"""Images, documents and audio in chat messages, sent by real clients: inline base64 (`image_url`
data URLs, `file` parts, `input_audio`) and image URLs the adapter fetches (SSRF-safe). What went
upstream is read from the emulator's request log: `POST /api/v1/files` uploads (type, name, bytes)
and the chat call's `attachments`."""

from __future__ import annotations

import base64
import io
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai
import pytest
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI
from PIL import Image

from support import PNG_SIGNATURE, assert_error_envelope, data_url, pdf, png, wav

MODEL = "GigaChat"


def seed() -> str:
    """A fresh seed, so no earlier test (or run) has uploaded the same bytes."""
    return uuid.uuid4().hex


def ask(client, *parts, text="Что на этом изображении?"):
    """One user message: a text part, then `parts`."""
    return client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": [{"type": "text", "text": text}, *parts]}],
    )


def image_part(url: str) -> dict:
    return {"type": "image_url", "image_url": {"url": url}}


def upstream_messages(emulator) -> list[dict]:
    """The messages of the one chat call the adapter made."""
    calls = emulator.chat_requests()
    assert len(calls) == 1, f"expected one upstream chat call, got {len(calls)}"
    return calls[0]["json"]["messages"]


def attached_ids(emulator) -> list[list[str]]:
    """Per upstream message that has any, its `attachments`."""
    return [m["attachments"] for m in upstream_messages(emulator) if m.get("attachments")]


def assert_answered(completion) -> None:
    assert completion.choices[0].message.content.strip(), completion
    assert completion.choices[0].finish_reason == "stop", completion


# --------------------------------------------------------------------------------------------
# Inline images


def test_base64_png_is_uploaded_once_and_attached(client, emulator):
    image = png(seed())
    assert_answered(ask(client, image_part(data_url("image/png", image))))
    uploads = emulator.file_uploads()
    assert len(uploads) == 1, uploads
    assert uploads[0]["content_type"] == "image/png" and uploads[0]["content"] == image, uploads[0]
    assert uploads[0]["status"] == 200, uploads[0]
    first = attached_ids(emulator)
    assert len(first) == 1 and len(first[0]) == 1, f"expected one message with one attachment: {first}"

    emulator.clear_requests()
    assert_answered(ask(client, image_part(data_url("image/png", image)), text="А теперь?"))
    assert emulator.file_uploads() == [], "the same image was uploaded again"
    assert attached_ids(emulator) == first, "the second request did not reuse the uploaded file id"


def test_two_images_in_one_message_become_consecutive_messages(client, emulator):
    images = [png(seed()), png(seed())]
    completion = ask(client, *(image_part(data_url("image/png", i)) for i in images), text="Сравни")
    assert_answered(completion)
    assert sorted(u["content"] for u in emulator.file_uploads()) == sorted(images)
    messages = upstream_messages(emulator)
    with_files = [i for i, m in enumerate(messages) if m.get("attachments")]
    assert len(with_files) == 2, f"expected two messages with an image each: {messages}"
    assert with_files[1] == with_files[0] + 1, f"the image messages are not consecutive: {messages}"
    assert all(len(messages[i]["attachments"]) == 1 for i in with_files), messages
    assert all(messages[i]["role"] == "user" for i in with_files), messages
    assert any("Сравни" in (m.get("content") or "") for m in messages), f"the text was lost: {messages}"


# --------------------------------------------------------------------------------------------
# Image URLs: fetched from a server the test runs, refused for private addresses by default


class _Images(BaseHTTPRequestHandler):
    """Serves `server.files` by path and records each request's path and User-Agent."""

    def do_GET(self):  # noqa: N802 - the http.server API
        self.server.seen.append((self.path, self.headers.get("user-agent", "")))
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("content-type", "application/octet-stream")  # the adapter sniffs the bytes
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def image_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Images)
    server.files, server.seen = {}, []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def serve(server, content: bytes) -> tuple[str, str]:
    """Publishes `content`; returns its URL and path."""
    path = f"/{seed()}.png"
    server.files[path] = content
    return f"http://127.0.0.1:{server.server_address[1]}{path}", path


def fetches(server, path: str) -> list[str]:
    """The User-Agents of the requests for `path`."""
    return [agent for seen, agent in server.seen if seen == path]


@pytest.fixture(scope="module")
def allow_listed(adapters):
    """An adapter allowed to fetch from 127.0.0.1 (and nothing else private)."""
    adapter = adapters.start(FETCH_ALLOWED_NETWORKS="127.0.0.1/32")
    client = adapter.client()
    yield client
    client.close()


def test_image_url_served_by_the_test_is_fetched_and_attached(allow_listed, image_server, emulator):
    image = png(seed(), 16, 12)
    url, path = serve(image_server, image)
    assert_answered(ask(allow_listed, image_part(url)))
    fetched = fetches(image_server, path)
    assert len(fetched) == 1, f"expected one fetch of {path}: {image_server.seen}"
    assert fetched[0].startswith("gigachat-adapter/"), fetched
    uploads = emulator.file_uploads()
    assert [(u["content_type"], u["content"]) for u in uploads] == [("image/png", image)], uploads
    assert [len(a) for a in attached_ids(emulator)] == [1]


def test_loopback_image_url_is_refused_by_default(client, image_server, emulator, validate):
    url, path = serve(image_server, png(seed()))
    with pytest.raises(openai.BadRequestError) as caught:
        ask(client, image_part(url))
    # The message names the client's own host (127.0.0.1): that is not a leak of upstream details.
    error = assert_error_envelope(validate, caught.value, status=400, code="forbidden_url", no_leaks=False)
    assert error["param"] == "messages[0].content[1]", error
    assert "gigachat" not in error["message"].lower() and "/api/v1" not in error["message"], error
    assert fetches(image_server, path) == [], "the refused URL was fetched"
    assert emulator.chat_requests() == [] and emulator.file_uploads() == [], "something went upstream"


@pytest.mark.parametrize("which", ["default", "allow-listed"])
def test_cloud_metadata_url_is_refused(which, client, allow_listed, emulator, validate):
    chosen = client if which == "default" else allow_listed
    with pytest.raises(openai.BadRequestError) as caught:
        ask(chosen, image_part("http://169.254.169.254/latest/meta-data/"))
    assert_error_envelope(validate, caught.value, status=400, code="forbidden_url", no_leaks=False)
    assert emulator.chat_requests() == [] and emulator.file_uploads() == [], "something went upstream"


# --------------------------------------------------------------------------------------------
# Documents and audio


@pytest.mark.parametrize("encoding", ["data-url", "bare-base64"])
def test_pdf_file_part_is_uploaded_as_pdf(encoding, client, emulator):
    document = pdf(f"Quarterly report {seed()}")
    encoded = data_url("application/pdf", document) if encoding == "data-url" else base64.b64encode(document).decode()
    part = {"type": "file", "file": {"file_data": encoded, "filename": "report.pdf"}}
    assert_answered(ask(client, part, text="Кратко перескажи документ"))
    uploads = emulator.file_uploads()
    assert len(uploads) == 1, uploads
    assert uploads[0]["content_type"] == "application/pdf", uploads[0]
    assert uploads[0]["filename"] == "report.pdf", uploads[0]
    assert uploads[0]["content"] == document
    assert [len(a) for a in attached_ids(emulator)] == [1]


def test_input_audio_wav_is_uploaded_as_wav(client, emulator):
    audio = wav(seed())
    part = {"type": "input_audio", "input_audio": {"data": base64.b64encode(audio).decode(), "format": "wav"}}
    assert_answered(ask(client, part, text="Что сказано в записи?"))
    uploads = emulator.file_uploads()
    assert len(uploads) == 1, uploads
    assert uploads[0]["content_type"] in ("audio/wav", "audio/x-wav"), uploads[0]
    assert uploads[0]["filename"].endswith(".wav"), uploads[0]
    assert uploads[0]["content"] == audio
    assert [len(a) for a in attached_ids(emulator)] == [1]


# --------------------------------------------------------------------------------------------
# Conversion and limits


@pytest.mark.parametrize("fmt, mime", [("WEBP", "image/webp"), ("GIF", "image/gif")])
def test_webp_and_gif_are_converted_to_png(fmt, mime, client, emulator):
    picture = Image.open(io.BytesIO(png(seed(), 12, 9))).convert("RGB")
    if fmt == "GIF":
        picture = picture.quantize(colors=16).convert("RGB")  # exactly representable in a GIF palette
    encoded = io.BytesIO()
    picture.save(encoded, fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    assert_answered(ask(client, image_part(data_url(mime, encoded.getvalue()))))
    uploads = emulator.file_uploads()
    assert len(uploads) == 1, uploads
    upload = uploads[0]
    assert upload["content_type"] == "image/png", upload["content_type"]
    assert upload["content"].startswith(PNG_SIGNATURE), upload["content"][:16]
    assert upload["filename"].endswith(".png"), upload["filename"]
    converted = Image.open(io.BytesIO(upload["content"]))
    assert converted.size == picture.size
    assert list(converted.convert("RGB").getdata()) == list(picture.getdata()), "the pixels changed"


@pytest.fixture(scope="module")
def roomy(adapters):
    """An adapter whose body limit (40 MB) lets a >15 MB image reach the attachment checks."""
    adapter = adapters.start(MAX_REQUEST_BYTES="40000000")
    client = adapter.client(timeout=60)
    yield client
    client.close()


def test_image_over_15_mb_is_file_too_large(roomy, emulator, validate):
    image = png(seed())
    image += b"\0" * (15 * 1024 * 1024 + 1 - len(image))  # still sniffed as PNG, one byte over
    with pytest.raises(openai.BadRequestError) as caught:
        ask(roomy, image_part(data_url("image/png", image)))
    error = assert_error_envelope(validate, caught.value, status=400, code="file_too_large")
    assert error["param"] == "messages[0].content[1]", error
    assert emulator.chat_requests() == [] and emulator.file_uploads() == [], "something went upstream"


# --------------------------------------------------------------------------------------------
# LangChain


def test_langchain_image_message_returns_text(base_url, api_key, emulator):
    llm = ChatOpenAI(base_url=base_url, api_key=api_key, model=MODEL, max_retries=0, timeout=30)
    image = png(seed())
    message = llm.invoke(
        [
            HumanMessage(
                content=[
                    {"type": "text", "text": "Опиши картинку"},
                    {"type": "image_url", "image_url": {"url": data_url("image/png", image)}},
                ]
            )
        ]
    )
    assert isinstance(message.content, str) and message.content.strip(), message
    assert [u["content"] for u in emulator.file_uploads()] == [image]
    assert [len(a) for a in attached_ids(emulator)] == [1]
