"""Limits of the public app (issue 13.4): bodies over the limit get 413 without being read,
/health keeps answering meanwhile, and a 422 echoes only a short excerpt of the input."""
from __future__ import annotations

import asyncio
import json
import os
import select
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from ec2_app.app import EXCERPT_CHARS, FEATURES, RECORD_BYTES, SAMPLE_RECORD, Settings

APP_DIR = Path(__file__).resolve().parents[2] / "ec2_app"
LIMIT = Settings().max_body_bytes
JSON = {"content-type": "application/json"}


def test_the_default_limit_is_64_kib():
    assert LIMIT == 64 * 1024


def padded_record(size: int) -> bytes:
    """A valid record's JSON padded with spaces (JSON allows them) to exactly `size` bytes."""
    body = json.dumps(SAMPLE_RECORD).encode()
    return body[:-1] + b" " * (size - len(body)) + b"}"


def test_a_body_at_the_limit_is_scored(client):
    response = client.post("/predict", content=padded_record(LIMIT), headers=JSON)
    assert response.status_code == 200
    assert response.json() == client.post("/predict", json=SAMPLE_RECORD).json()


def test_a_body_over_the_limit_is_413(client):
    response = client.post("/predict", content=padded_record(LIMIT + 1), headers=JSON)
    assert response.status_code == 413
    detail = f"The body is larger than the {LIMIT} bytes this route accepts."
    assert response.json() == {"detail": detail}


def chunks(body: bytes, size: int = 4096):
    for i in range(0, len(body), size):
        yield body[i:i + size]


def test_a_chunked_body_is_read_whole_under_the_limit(client):
    # No Content-Length (a generator body is sent chunked): counted as it arrives.
    response = client.post("/predict", content=chunks(padded_record(LIMIT // 2)), headers=JSON)
    assert response.status_code == 200


def test_a_chunked_body_is_refused_once_past_the_limit(client):
    # Straight through ASGI, since the test client would read the whole body first.
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/predict", "raw_path": b"/predict", "query_string": b"",
             "root_path": "", "headers": [(b"content-type", b"application/json")],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    read, sent = [], []

    async def receive():  # an endless chunked body
        read.append(4096)
        return {"type": "http.request", "body": b" " * 4096, "more_body": True}

    async def send(message):
        sent.append(message)

    asyncio.run(client.app(scope, receive, send))

    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["detail"].startswith("The body is larger than the")
    assert sum(read) <= LIMIT + 4096


def test_the_batch_route_allows_a_record_size_per_record(client):
    limit = Settings().batch_max * RECORD_BYTES
    full = client.post("/predict/batch", json={"records": [SAMPLE_RECORD] * 1000})
    assert full.status_code == 200
    body = json.dumps({"records": [SAMPLE_RECORD]}).encode()
    too_big = body[:-1] + b" " * (limit + 1 - len(body)) + b"}"
    assert client.post("/predict/batch", content=too_big, headers=JSON).status_code == 413


def test_413_is_documented(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "413" in paths["/predict"]["post"]["responses"]
    assert "413" in paths["/predict/batch"]["post"]["responses"]


# --- 422: what is wrong and where, with a short excerpt of the input -----------------------------

def test_a_long_value_is_echoed_as_an_excerpt(client):
    value = "x" * 5000
    response = client.post("/predict", json={**SAMPLE_RECORD, "education": value})
    (error,) = response.json()["detail"]
    assert (error["loc"], error["type"]) == (["body", "education"], "string_too_long")
    assert error["input"] == "x" * EXCERPT_CHARS + "..."
    assert len(response.content) < 1000


def test_a_short_value_is_echoed_as_sent(client):
    (error,) = client.post("/predict", json={**SAMPLE_RECORD, "age": "39"}).json()["detail"]
    assert (error["loc"], error["input"]) == (["body", "age"], "39")


def test_missing_fields_do_not_echo_the_whole_body(client):
    # Each missing field's error used to carry the whole body: 12 copies of a big one.
    body = {"note": "y" * 50_000}
    response = client.post("/predict", json=body)
    detail = response.json()["detail"]
    assert {tuple(e["loc"]) for e in detail} == {("body", f) for f in FEATURES} | {("body", "note")}
    assert all(len(json.dumps(e["input"])) <= EXCERPT_CHARS + 10 for e in detail)
    missing = next(e for e in detail if e["type"] == "missing")
    assert missing["input"].startswith('{"note": "yyy')
    assert len(response.content) < 13 * 400


def test_a_batch_error_names_the_record_and_field_with_an_excerpt(client):
    records = [SAMPLE_RECORD] * 300 + [{**SAMPLE_RECORD, "age": "old"}]
    response = client.post("/predict/batch", json={"records": records, "extra": records})
    detail = response.json()["detail"]
    assert sorted(tuple(e["loc"]) for e in detail) == [("body", "extra"),
                                                       ("body", "records", 300, "age")]
    assert len(response.content) < 1000


# --- a real server: a 10 MB POST is refused quickly while /health answers -----------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(model_path):
    """uvicorn serving the app from its folder, as the Dockerfile runs it, on a free port."""
    port = _free_port()
    env = dict(os.environ, MODEL_PATH=str(model_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=APP_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, deadline = b"", time.monotonic() + 60
        while b"Uvicorn running on" not in out:
            assert proc.poll() is None and time.monotonic() < deadline, out.decode()
            if select.select([proc.stdout], [], [], 0.5)[0]:
                out += os.read(proc.stdout.fileno(), 65536)
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _health_seconds(port: int) -> float:
    start = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as resp:
        assert resp.status == 200
    return time.perf_counter() - start


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:")) / 1024


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_10_mb_post_is_refused_quickly_while_health_answers(server, framing):
    port, pid = server
    usual = statistics.median(_health_seconds(port) for _ in range(20))
    rss_before = _rss_mb(pid)
    size = 10 * 1024 * 1024
    head = f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
    head += (f"Content-Length: {size}\r\n" if framing == "content-length"
             else "Transfer-Encoding: chunked\r\n")
    piece = b" " * 65536 if framing == "content-length" else b"10000\r\n" + b" " * 65536 + b"\r\n"
    during: list[float] = []
    stop = threading.Event()

    def poll_health():  # all along the upload and its refusal
        while not stop.is_set() or len(during) < 10:
            during.append(_health_seconds(port))

    poller = threading.Thread(target=poll_health, daemon=True)
    poller.start()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(head.encode() + b"\r\n")
    sent = [0]

    def upload():  # as fast as the server takes it, until it closes the connection
        try:
            while sent[0] < size:
                sock.sendall(piece)
                sent[0] += 65536
        except OSError:
            pass

    sender = threading.Thread(target=upload, daemon=True)
    start = time.perf_counter()
    sender.start()
    sock.settimeout(10)
    answer = sock.recv(65536)
    refused_after = time.perf_counter() - start
    sender.join(timeout=10)
    sock.close()
    stop.set()
    poller.join(timeout=30)

    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert refused_after < 2.0
    assert sent[0] < size  # the server stopped taking the body
    assert max(during) < max(20 * usual, 0.5), (usual, during)
    assert _rss_mb(pid) - rss_before < 5
