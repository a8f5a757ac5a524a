"""The web page at `/` in a real headless browser: Debian's chromium and chromedriver, driven through Selenium,
against servers in their own processes on loopback ports: `semsearch serve` over a copy of the real index, and the
same app over an empty folder (no index: 503) or held while loading.

The browser comes from the system (`apt-get install chromium chromium-driver`), never from Selenium Manager.
Without it these tests are skipped, or fail when SEMSEARCH_REQUIRE_BROWSER=1 (as in CI)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--no-first-run", "--window-size=1200,1000")
STARTUP_SECONDS = 120
WAIT_SECONDS = 60
WORKSTATIONS = "如何建设委员工作站?"
WORKSTATIONS_FILE = "002_82a0a245436f2301.txt"

# The app of `semsearch serve` on a folder as it is (`serve` itself would first build a missing index), and,
# given a flag file, with loading held until that file exists.
SERVE_AS_IS = """
import sys, time, pathlib, uvicorn
from semsearch.interfaces import server
index, port, flag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if flag:
    def held_warm_up(idx):
        while not pathlib.Path(flag).exists():
            time.sleep(0.05)
    server._warm_up = held_warm_up
uvicorn.run(server.create_app(index), host="127.0.0.1", port=port, log_level="warning")
"""


def browser_missing() -> str | None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        return (f"no headless browser: {' and '.join(missing)} missing "
                "(install with: apt-get install -y chromium chromium-driver)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (install with: python -m pip install selenium)"
    return None


def need_browser() -> None:
    reason = browser_missing()
    if reason is None:
        return
    if os.environ.get("SEMSEARCH_REQUIRE_BROWSER") == "1":
        pytest.fail(f"SEMSEARCH_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running(args: list[str], log: Path, ready=lambda r: True):
    """A server process on a free loopback port, yielded as its URL once /health gives an answer ``ready`` accepts."""
    port = free_port()
    with open(log, "w") as log_fh:
        proc = subprocess.Popen([sys.executable, *[a.replace("{port}", str(port)) for a in args]],
                                stdout=log_fh, stderr=subprocess.STDOUT, env=os.environ.copy())
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            text = log.read_text(errors="replace")[-3000:]
            assert proc.poll() is None, f"server exited with {proc.returncode}:\n{text}"
            assert time.monotonic() < deadline, f"server not up after {STARTUP_SECONDS}s:\n{text}"
            try:
                if ready(httpx.get(url + "/health", timeout=5)):
                    break
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@pytest.fixture(scope="session")
def chromium():
    """Skip (or fail) before anything costly is built when there is no browser."""
    need_browser()


@pytest.fixture(scope="module")
def served(chromium, real_index, tmp_path_factory):
    """`python -m semsearch serve` on a copy of the shared real index, once /health says ok."""
    base = tmp_path_factory.mktemp("web")
    shutil.copytree(real_index, base / "index")
    with running(["-m", "semsearch", "serve", "--index", str(base / "index"), "--host", "127.0.0.1",
                  "--port", "{port}"], base / "server.log", ready=lambda r: r.status_code == 200) as url:
        yield url


@pytest.fixture(scope="module")
def no_index(tmp_path_factory):
    """The server's app on an empty folder: loading fails, /health and /ask answer 503 with one line."""
    base = tmp_path_factory.mktemp("noindex")
    with running(["-c", SERVE_AS_IS, str(base / "index"), "{port}", ""], base / "server.log",
                 ready=lambda r: r.json() != {"error": "loading"}) as url:
        yield url


@pytest.fixture
def browser(chromium, tmp_path, monkeypatch):
    """Headless chromium with a fresh profile, through the system chromedriver (no Selenium Manager)."""
    monkeypatch.setenv("SE_OFFLINE", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()


# -- helpers -----------------------------------------------------------------------------------

def by_css(selector: str):
    from selenium.webdriver.common.by import By

    return By.CSS_SELECTOR, selector


def wait_for(driver, condition, message: str):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.05).until(condition, message)


def visible(driver, selector: str):
    from selenium.webdriver.support import expected_conditions as EC

    return wait_for(driver, EC.visibility_of_element_located(by_css(selector)), f"{selector} never shown")


def shown(driver, selector: str) -> bool:
    return any(e.is_displayed() for e in driver.find_elements(*by_css(selector)))


def open_page(driver, url: str):
    """Load the page; the question box has the focus."""
    driver.get(url + "/")
    box = visible(driver, "#q")
    assert driver.switch_to.active_element == box, "the question box does not have the focus on load"
    return box


def ask_by_keyboard(driver, question: str) -> None:
    """Type into whatever has the focus, then Enter, as a person would."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    ActionChains(driver).send_keys(question + Keys.ENTER).perform()


def press(driver, key: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys(key).perform()


def error_shown(driver) -> tuple[str, str]:
    error = visible(driver, "#error")
    return error.find_element(*by_css(".title")).text, error.find_element(*by_css(".message")).text


def severe_console_messages(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


# -- the page itself ---------------------------------------------------------------------------

def test_the_page_is_one_html_file_from_the_package_that_loads_nothing_from_elsewhere(no_index):
    r = httpx.get(no_index + "/", timeout=30)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    shipped = resources.files("semsearch.interfaces").joinpath("web", "index.html").read_text(encoding="utf-8")
    assert r.text == shipped
    assert not re.search(r"""(?i)\b(src|href|action)\s*=\s*["']?\s*(https?:)?//""", r.text)
    for outside in ("@import", "@font-face", "url(", "<link rel=\"stylesheet\"", "<script src"):
        assert outside not in r.text, outside
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    assert "/" not in httpx.get(no_index + "/openapi.json", timeout=30).json()["paths"]  # a page, not an API


# -- with the real index (1): a cited answer ----------------------------------------------------

def test_enter_asks_and_shows_the_cited_answer_with_file_line_and_highlights(served, browser):
    open_page(browser, served)
    ask_by_keyboard(browser, WORKSTATIONS)
    first = visible(browser, "#passages li.passage")
    api = httpx.post(served + "/ask", json={"question": WORKSTATIONS, "highlight": True}, timeout=60).json()
    top = api["results"][0]
    assert top["source"]["path"] == WORKSTATIONS_FILE and "1363个委员工作站" in top["text"]

    # the passage with 1363 is source [1], with its file and line
    assert first.get_attribute("id") == "passage-1"
    assert first.find_element(*by_css(".rank")).text == "[1]"
    assert "1363个委员工作站" in first.find_element(*by_css(".text")).text
    assert first.find_element(*by_css(".where")).text == f"{WORKSTATIONS_FILE}:{top['source']['line_start']}"
    # the query's terms are marked where the server says
    marks = [m.text for m in first.find_elements(*by_css("mark"))]
    assert "".join(marks) == "".join(top["text"][s:e] for s, e in top["highlights"])
    assert "委员工作站" in "".join(marks)
    # the answer sentence quoted from it is underlined there
    assert any("1363" in u.text for u in first.find_elements(*by_css(".cited")))

    # the answer: the sentences of /ask, the first citing [1]
    sentences = browser.find_elements(*by_css("#answer-body .sentence"))
    assert len(sentences) == len(api["answer"]["sentences"]) >= 1
    for element, sentence in zip(sentences, api["answer"]["sentences"]):
        assert element.text == f"{sentence['text']} [{sentence['citation']}]"
    assert api["answer"]["sentences"][0]["citation"] == 1 and "1363" in sentences[0].text
    assert sentences[0].find_element(*by_css("a.cite")).text == "[1]"
    assert len(browser.find_elements(*by_css("#passages li.passage"))) == len(api["results"])
    assert not shown(browser, "#error") and not shown(browser, "#no-answer")

    # nothing came from anywhere but this server, and nothing went wrong in the page
    urls = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert urls and all(u.startswith(served + "/") for u in urls), urls
    assert severe_console_messages(browser) == []


def test_keyboard_only_tab_reaches_the_results_with_visible_focus_and_slash_returns_to_the_box(served, browser):
    from selenium.webdriver.common.keys import Keys

    box = open_page(browser, served)
    ask_by_keyboard(browser, WORKSTATIONS)
    visible(browser, "#passages li.passage")
    passages = [p.get_attribute("id") for p in browser.find_elements(*by_css("#passages li.passage"))]
    focused = []
    for _ in range(40):  # Tab from the box: the button, the answer's citation marks, then each passage
        press(browser, Keys.TAB)
        active = browser.switch_to.active_element
        focused.append(active.get_attribute("id") or active.text)
        if active.get_attribute("id") in passages:
            outline = browser.execute_script(
                "const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth];")
            assert outline[0] != "none" and float(outline[1].removesuffix("px")) >= 2, outline
        if focused[-1] == passages[-1]:
            break
    assert "ask-button" in focused and "[1]" in focused, focused
    assert [f for f in focused if f in passages] == passages, focused

    # Enter on a citation mark takes the focus to its passage
    box.click()
    press(browser, Keys.TAB)
    press(browser, Keys.TAB)
    assert browser.switch_to.active_element.text == "[1]"
    press(browser, Keys.ENTER)
    assert browser.switch_to.active_element.get_attribute("id") == "passage-1"

    # `/` goes back to the box (selecting the question) and types nothing; Enter there asks again
    press(browser, "/")
    assert browser.switch_to.active_element == box and box.get_attribute("value") == WORKSTATIONS
    ask_by_keyboard(browser, "你好")
    assert visible(browser, "#no-answer")


# -- (2): no answer --------------------------------------------------------------------------------

def test_a_question_without_an_answer_says_so_plainly(served, browser):
    api = httpx.post(served + "/ask", json={"question": "你好"}, timeout=60).json()
    assert api["no_answer"] is True and api["results"] == []
    open_page(browser, served)
    ask_by_keyboard(browser, "你好")
    message = visible(browser, "#no-answer").text
    assert "没有找到答案" in message and "No answer" in message
    assert not shown(browser, "#passages li") and not shown(browser, "#error")
    assert severe_console_messages(browser) == []


# -- (3): errors and loading ------------------------------------------------------------------------

def test_a_question_over_4000_characters_shows_the_servers_one_line_error(served, browser):
    from selenium.webdriver.common.keys import Keys

    question = "政" * 4001
    expected = httpx.post(served + "/ask", json={"question": question, "highlight": True}, timeout=60)
    assert expected.status_code == 422
    box = open_page(browser, served)
    browser.execute_script("arguments[0].value = arguments[1];", box, question)  # typing 4,001 keys is slow
    box.send_keys(Keys.ENTER)
    title, message = error_shown(browser)
    assert message == expected.json()["error"] == "question: string should have at most 4000 characters"
    assert "HTTP 422" in title and "出错" in title and "Error" in title
    assert not shown(browser, "#answer") and not shown(browser, "#sources")


def test_without_an_index_the_page_shows_the_503_message(no_index, browser):
    expected = httpx.post(no_index + "/ask", json={"question": "政协"}, timeout=30)
    assert expected.status_code == 503 and "no index at" in expected.json()["error"]
    open_page(browser, no_index)
    title, message = error_shown(browser)  # /health already says why on load
    assert message == expected.json()["error"] and "HTTP 503" in title
    ask_by_keyboard(browser, "政协")
    wait_for(browser, lambda d: "Error (HTTP 503)" in d.find_element(*by_css("#error .title")).text,
             "the 503 of /ask is not shown")
    assert browser.find_element(*by_css("#error .message")).text == expected.json()["error"]
    assert not shown(browser, "#answer") and not shown(browser, "#loading")


def test_while_the_server_loads_the_page_says_so_then_that_it_is_ready(tmp_path, browser):
    flag = tmp_path / "release"
    with running(["-c", SERVE_AS_IS, str(tmp_path / "index"), "{port}", str(flag)], tmp_path / "server.log",
                 ready=lambda r: r.status_code == 503) as url:
        open_page(browser, url)
        loading = visible(browser, "#loading")
        assert "正在加载" in loading.text and "loading" in loading.text
        ask_by_keyboard(browser, "政协")
        title, message = error_shown(browser)
        assert message == "the model and index are still loading; try again shortly"
        assert "加载" in title and "loading" in title and shown(browser, "#loading")
        flag.touch()
        wait_for(browser, lambda d: not shown(d, "#loading"), "the loading notice stays after loading")
        wait_for(browser, lambda d: "Ready" in d.find_element(*by_css("#status")).text, "ready is not said")
        assert not shown(browser, "#error")
