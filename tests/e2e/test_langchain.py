"""LangChain's ChatOpenAI against the adapter: invoke and stream."""

from __future__ import annotations

import pytest
from langchain_openai import ChatOpenAI

PROMPT = "Привет! Что ты умеешь?"


@pytest.fixture(scope="module")
def llm(base_url, api_key):
    return ChatOpenAI(base_url=base_url, api_key=api_key, model="GigaChat", max_retries=0, timeout=30)


def test_langchain_invoke_returns_text(llm):
    message = llm.invoke(PROMPT)
    assert isinstance(message.content, str) and message.content.strip()
    assert message.response_metadata.get("finish_reason") == "stop"
    assert message.usage_metadata and message.usage_metadata["total_tokens"] > 0


def test_langchain_stream_concatenates_to_the_invoked_text(llm):
    chunks = list(llm.stream(PROMPT))
    text = "".join(chunk.content for chunk in chunks)
    assert text.strip(), "stream produced no text"
    assert len(chunks) > 1, "stream arrived as one chunk"
    assert text == llm.invoke(PROMPT).content


def test_langchain_stream_usage(base_url, api_key):
    llm = ChatOpenAI(base_url=base_url, api_key=api_key, model="GigaChat", max_retries=0, stream_usage=True)
    total = None
    for chunk in llm.stream(PROMPT):
        total = chunk if total is None else total + chunk
    assert total is not None and total.usage_metadata, "no usage in the stream"
    assert total.usage_metadata["total_tokens"] > 0
