"""Pictures GigaChat draws (the emulator draws for `нарисуй`/`draw`): GigaChat's
`<img src="<file id>" fuse="true"/>` reaches clients as Markdown, an inline JPEG data URL by default
or a link to `/v1/files/{id}/content` with GENERATED_IMAGES=link."""

from __future__ import annotations

import base64
import re

import pytest

MODEL = "GigaChat"
JPEG_MAGIC = b"\xff\xd8\xff"


def draw(client, prompt: str = "нарисуй кота"):
    return client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": prompt}])


def test_drawing_prompt_returns_a_markdown_data_url_jpeg(client, emulator):
    content = draw(client).choices[0].message.content
    prefix = "![image](data:image/jpeg;base64,"
    assert content.startswith(prefix), content[:200]
    encoded = content[len(prefix) : content.index(")", len(prefix))]
    picture = base64.b64decode(encoded, validate=True)
    assert picture.startswith(JPEG_MAGIC), picture[:16]
    assert "<img" not in content, content[-300:]
    [call] = emulator.chat_requests()
    assert call["json"].get("function_call") == "auto", "image generation was not enabled upstream"


def test_streamed_drawing_is_rewritten_too(client):
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "draw a cat"}], stream=True
    )
    content = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert content.startswith("![image](data:image/jpeg;base64,"), content[:200]
    assert "<img" not in content, content[-300:]


@pytest.fixture(scope="module")
def link_adapter(adapters):
    adapter = adapters.start(GENERATED_IMAGES="link")
    client = adapter.client()
    yield client
    client.close()


def test_link_mode_returns_a_files_api_link_that_downloads_the_jpeg(link_adapter):
    content = draw(link_adapter, "draw a cat").choices[0].message.content
    match = re.match(r"!\[image\]\(/v1/files/([^/)]+)/content\)", content)
    assert match, content[:300]
    assert link_adapter.files.content(match.group(1)).read().startswith(JPEG_MAGIC)
