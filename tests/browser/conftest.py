"""Browser tests: the real dashboard and sandbox as processes, driven by Playwright in Debian's Chromium."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without these, Chromium keeps calling home and this machine's closed network refuses it.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
START_BUDGET_S = 120  # the sandbox may have to verify the course artifacts first
# The dashboard speaks the browser's language: these tests read English (the language tests set their own).
LOCALE = "en-US"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, log: Path, budget: float = START_BUDGET_S) -> None:
    """Poll url until it answers 200, failing early (with the log) if the process dies."""
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{proc.args} exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    pytest.fail(f"{url} did not answer within {budget} s:\n{log.read_text()[-3000:]}")


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def app_env(tmp_path_factory):
    """Sandbox + dashboard on free ports; yields (dashboard URL, environment of both)."""
    logs = tmp_path_factory.mktemp("logs")
    sandbox_port, dashboard_port = free_port(), free_port()
    env = {**os.environ,
           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{sandbox_port}",
           "MLOPS_LAB_HOME": str(tmp_path_factory.mktemp("labhome")),
           "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}
    sandbox = start([sys.executable, "-m", "backend", "sandbox", "--port", str(sandbox_port)], env,
                    logs / "sandbox.log")
    dashboard = None
    try:
        wait_for(f"http://127.0.0.1:{sandbox_port}/_lab/health", sandbox, logs / "sandbox.log")
        dashboard = start([sys.executable, "-m", "streamlit", "run", "dashboard.py", "--server.port",
                           str(dashboard_port), "--server.address", "127.0.0.1", "--server.headless", "true"],
                          env, logs / "dashboard.log")
        wait_for(f"http://127.0.0.1:{dashboard_port}/_stcore/health", dashboard, logs / "dashboard.log")
        yield f"http://127.0.0.1:{dashboard_port}", env
    finally:
        if dashboard is not None:
            stop(dashboard)
        stop(sandbox)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.failed_in_call = report.failed


@pytest.fixture(scope="session")
def warm_app(browser, app_env):
    """Open the main page once: on a fresh server Streamlit shows a spurious "Page not found" modal to the
    first session that deep-links into an st.navigation page (streamlit/streamlit#9992)."""
    from playwright.sync_api import expect

    context = browser.new_context(locale=LOCALE)
    first = context.new_page()
    first.goto(app_env[0])
    expect(first.get_by_role("heading", name="Setup", exact=True)).to_be_visible(timeout=60_000)
    context.close()


@pytest.fixture
def page(browser, warm_app, request, tmp_path_factory):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale=LOCALE)
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    if getattr(request.node, "failed_in_call", False):  # what the user would have seen
        shot = tmp_path_factory.mktemp("failures") / f"{request.node.name}.png"
        screenshot_whole_page(page, shot)
        print(f"screenshot of the failure: {shot}")
    context.close()


def screenshot_whole_page(page, path: Path) -> None:
    """The whole page, not just the window: Streamlit scrolls inside its main section, which Playwright's
    full_page does not see, so the window is made as tall as that section first."""
    try:
        height = page.evaluate("Math.max(...[...document.querySelectorAll('[data-testid=stMain], "
                               "[data-testid=stAppViewContainer]')].map(e => e.scrollHeight), 1000)")
        page.set_viewport_size({"width": page.viewport_size["width"], "height": min(int(height), 30_000)})
    except Exception:  # a page that has crashed still gets its window's picture
        pass
    page.screenshot(path=str(path), full_page=True)


@pytest.fixture
def base_url(app_env):
    return app_env[0]
