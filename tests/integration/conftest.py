"""Integration tests: the sandbox as its own process, reached like AWS through AWS_ENDPOINT_URL."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
START_BUDGET_S = 180  # a first start may build the course artifacts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def sandbox_process(tmp_path_factory):
    """`python -m backend sandbox` on a free port; yields its URL."""
    from backend.sandbox import sandbox_is_running

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("sandbox") / "sandbox.log"
    proc = subprocess.Popen([sys.executable, "-m", "backend", "sandbox", "--port", str(port)], cwd=ROOT,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + START_BUDGET_S
        while not sandbox_is_running(url, timeout=1):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"sandbox did not start (exit {proc.poll()}):\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def cli(sandbox_process, monkeypatch):
    """Run `python -m backend …` against the sandbox; returns the CompletedProcess."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox_process)

    def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "backend", *args], cwd=ROOT, env=dict(os.environ),
                              capture_output=True, text=True, timeout=timeout)
    return run
