"""Open WebUI in a real browser in front of the adapter: a workspace model asking for reasoning
(`reasoning_effort: medium`, which the adapter passes to GigaChat) answers with its reasoning in
Open WebUI's collapsible thinking section (the adapter streams it as `reasoning_content`) and the
answer as the message text. A screenshot of the page is kept in the e2e log dir.

Open WebUI runs from the venv tests/e2e/run.sh installs (E2E_OPEN_WEBUI_DIR; see
tests/e2e/open-webui/requirements.txt) with no authentication, no Ollama, no local models and no
network use (offline mode). Debian's chromium is driven headless through its chromedriver (apt
`chromium chromium-driver`, .ci/run installs them) with selenium; nothing is downloaded.
"""

from __future__ import annotations

import os
import shutil
import time
import urllib.parse
from pathlib import Path

import httpx
import pytest

from conftest import Process, clean_env
from support import API_KEY, free_port

MODEL = "GigaChat-2-Max"
# Open WebUI's workspace model over MODEL that asks for reasoning.
THINKING_MODEL = "gigachat-thinking"
PROMPT = "Сколько будет 2+2?"
# Open WebUI's first start migrates its database and seeds its config: about a minute on a busy
# two-core machine.
STARTUP_TIMEOUT = 240.0
ANSWER_TIMEOUT = 60.0


def open_webui_python() -> Path:
    """The Python of Open WebUI's venv; fails the test naming how to install it when missing."""
    root = os.environ.get("E2E_OPEN_WEBUI_DIR")
    python = Path(root or "/nonexistent") / "bin" / "python"
    if not root or not (Path(root) / ".e2e-installed").is_file() or not python.exists():
        pytest.fail(
            "Open WebUI is not installed: tests/e2e/run.sh installs tests/e2e/open-webui/requirements.txt "
            "into a cached venv and sets E2E_OPEN_WEBUI_DIR",
            pytrace=False,
        )
    return python


def browser_binaries() -> tuple[str, str]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.fail("chromium and chromedriver are missing: apt-get install chromium chromium-driver (.ci/run does)", pytrace=False)
    return chromium, driver


@pytest.fixture(scope="module")
def open_webui(adapters, log_dir):
    """Open WebUI served on a free port, its OpenAI connection pointed at a fresh adapter: (its URL,
    the adapter)."""
    python = open_webui_python()
    adapter = adapters.start()
    port = free_port()
    home = log_dir / "open-webui"
    (home / "data").mkdir(parents=True, exist_ok=True)
    env = clean_env()
    env.update(
        DATA_DIR=str(home / "data"),
        HOME=str(home),
        WEBUI_AUTH="False",
        WEBUI_SECRET_KEY="e2e-open-webui",
        ENABLE_OLLAMA_API="False",
        ENABLE_OPENAI_API="True",
        OPENAI_API_BASE_URL=adapter.base_url,
        OPENAI_API_KEY=API_KEY,
        # No downloads: no local embedding, reranking or speech models, no update checks.
        OFFLINE_MODE="True",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        USE_SLIM_DOCKER="true",
        RAG_EMBEDDING_ENGINE="openai",
        AUDIO_STT_ENGINE="openai",
        ANONYMIZED_TELEMETRY="False",
        DO_NOT_TRACK="True",
        SCARF_NO_ANALYTICS="True",
        # Only the chat itself goes to the adapter (no title, tag or follow-up requests beside it).
        ENABLE_TITLE_GENERATION="False",
        ENABLE_FOLLOW_UP_GENERATION="False",
        ENABLE_TAGS_GENERATION="False",
    )
    process = Process(
        "open-webui",
        [str(python), "-c", "from open_webui import app; app()", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env,
        log_dir / "open-webui.log",
    )
    started = time.monotonic()
    process.start()
    url = f"http://127.0.0.1:{port}"
    deadline = started + STARTUP_TIMEOUT
    while True:
        if not process.alive():
            process.fail_startup("Open WebUI exited")
        try:
            if httpx.get(f"{url}/health", timeout=2, trust_env=False).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.fail_startup(f"GET /health did not answer 200 within {STARTUP_TIMEOUT}s")
        time.sleep(1)
    print(f"Open WebUI up in {time.monotonic() - started:.0f}s")
    yield url, adapter
    process.stop()


@pytest.fixture
def browser(log_dir):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = browser_binaries()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000", "--lang=en-US"):
        options.add_argument(argument)
    service = Service(executable_path=driver_path, log_output=str(log_dir / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    yield driver
    driver.quit()


def test_reasoning_shows_as_open_webuis_thinking_section(open_webui, browser, emulator, log_dir):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    # What the adapter answers this prompt with reasoning asked for (the emulator's answers are
    # deterministic): the reasoning and the answer text.
    url, adapter = open_webui
    expected = adapter.client().chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": PROMPT}], reasoning_effort="medium"
    ).choices[0].message
    reasoning = (expected.model_extra or {})["reasoning_content"]
    answer = expected.content
    first_words = " ".join(reasoning.split()[:3])
    assert reasoning.split() and answer.split() and first_words not in answer

    screenshot = log_dir / "open-webui-reasoning.png"
    wait = WebDriverWait(browser, ANSWER_TIMEOUT)

    def page_text() -> str:
        return browser.find_element(By.TAG_NAME, "body").text

    def close_whats_new() -> None:
        """A new user's first visit opens the "What's New" dialog over the chat: it is closed."""
        dismiss = (By.XPATH, "//button[contains(., \"Okay, Let's Go!\")]")
        try:
            button = WebDriverWait(browser, 5).until(ready.visibility_of_element_located(dismiss))
        except TimeoutException:
            return
        browser.execute_script("arguments[0].click()", button)
        wait.until(ready.invisibility_of_element_located(dismiss))

    try:
        # Signed in (no auth: Open WebUI's admin), the page's token creates the workspace model.
        browser.get(url)
        wait.until(ready.presence_of_element_located((By.ID, "chat-input")))
        close_whats_new()
        token = wait.until(lambda driver: driver.execute_script("return localStorage.token"))
        created = httpx.post(
            f"{url}/api/v1/models/create",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "id": THINKING_MODEL,
                "base_model_id": MODEL,
                "name": "GigaChat thinking",
                "meta": {},
                "params": {"reasoning_effort": "medium"},
            },
            timeout=10,
            trust_env=False,
        )
        assert created.status_code == 200, created.text
        emulator.clear_requests()

        browser.get(f"{url}/?{urllib.parse.urlencode({'models': THINKING_MODEL, 'q': PROMPT})}")
        chat_input = wait.until(ready.presence_of_element_located((By.ID, "chat-input")))
        close_whats_new()
        wait.until(ready.element_to_be_clickable((By.ID, "chat-input")))
        wait.until(lambda _: PROMPT in chat_input.text)
        chat_input.send_keys(Keys.ENTER)
        # Open WebUI's thinking section: a collapsed "Thought for …" title over the reasoning, then
        # the answer as the message text.
        title = wait.until(
            ready.visibility_of_element_located((By.XPATH, "//*[starts-with(normalize-space(text()), 'Thought for')]"))
        )
        wait.until(lambda _: answer.split()[-1] in page_text())
        collapsed = page_text()
        assert " ".join(answer.split()[:4]) in collapsed, collapsed
        assert first_words not in collapsed, f"the reasoning shows before it is opened: {collapsed}"
        # Opened, it shows the reasoning.
        browser.execute_script("arguments[0].click()", title)
        wait.until(lambda _: first_words in page_text())
    except Exception:
        browser.save_screenshot(str(screenshot))
        (log_dir / "open-webui-page.html").write_text(browser.page_source)
        raise
    browser.save_screenshot(str(screenshot))
    print(f"screenshot: {screenshot}")
    # Open WebUI asked GigaChat (through the adapter) for the reasoning it shows.
    asked = [call["json"] for call in emulator.chat_requests()]
    assert [(body["messages"][-1]["content"], body.get("reasoning_effort")) for body in asked] == [(PROMPT, "medium")], asked
