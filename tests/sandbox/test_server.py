"""The sandbox core: seeded course bucket, reachable through AWS_ENDPOINT_URL, fast, loopback only."""
from __future__ import annotations

import select
import signal
import socket
import subprocess
import sys
import time

import boto3
import psutil
import pytest

from backend.aws import Aws, Target
from backend.config import COURSE_BUCKET, COURSE_FILES, PROJECT_ROOT
from backend.sandbox import Sandbox, SandboxError, get_sandbox_info, sandbox_is_running

START_BUDGET_S = 3.0


def test_course_bucket_holds_the_course_files(sandbox_aws):
    s3 = sandbox_aws.client("s3")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=COURSE_BUCKET)["Contents"]}
    assert keys == set(COURSE_FILES)
    tags = s3.get_bucket_tagging(Bucket=COURSE_BUCKET)["TagSet"]
    assert {"Key": "lab:course", "Value": "mlops-aws"} in tags
    assert s3.get_bucket_location(Bucket=COURSE_BUCKET)["LocationConstraint"] == "eu-central-1"


def test_course_layer_is_the_local_build(sandbox, sandbox_aws, course_dir):
    body = sandbox_aws.client("s3").get_object(Bucket=COURSE_BUCKET, Key="layer_file.zip")["Body"].read()
    assert body == (course_dir / "layer_file.local.zip").read_bytes()


def test_plain_boto3_reaches_it_through_aws_endpoint_url(sandbox, monkeypatch):
    # As a student's shell after the `export …` line `make run` prints (the sandbox's own keys).
    for name, value in Aws(Target.sandbox(endpoint_url=sandbox.url)).client_env().items():
        monkeypatch.setenv(name, value)
    s3 = boto3.session.Session().client("s3", region_name="eu-central-1")
    assert COURSE_BUCKET in {b["Name"] for b in s3.list_buckets()["Buckets"]}


def test_starts_within_budget(sandbox):
    # Measured by start(): bind, compute hooks, course bucket seeded with a layer-sized file.
    assert sandbox.startup_seconds is not None
    assert sandbox.startup_seconds < START_BUDGET_S


def test_bound_to_loopback_only(sandbox):
    listening = [c for c in psutil.Process().net_connections(kind="tcp")
                 if c.status == psutil.CONN_LISTEN and c.laddr.port == sandbox.port]
    assert [c.laddr.ip for c in listening] == ["127.0.0.1"]


def test_health_says_it_is_this_projects_sandbox(sandbox):
    info = get_sandbox_info(sandbox.url)
    assert info is not None
    assert info.course_bucket == COURSE_BUCKET
    assert info.missing_course_files == ()
    assert sandbox_is_running(sandbox.url)


def test_health_of_something_else_is_none(sandbox):
    # moto answers other paths, but only our route carries the marker.
    assert get_sandbox_info(sandbox.url + "/moto-api") is None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    assert get_sandbox_info(f"http://127.0.0.1:{free}", timeout=0.5) is None


def test_second_sandbox_in_the_same_process_is_refused(sandbox, tmp_path):
    with pytest.raises(SandboxError) as err:
        Sandbox(0, course_dir=tmp_path).start()
    assert err.value.code == "SandboxAlreadyRunning"
    assert sandbox_is_running(sandbox.url)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_cli_like(port: int, course_dir) -> subprocess.Popen:
    code = ("import sys; from backend.sandbox import serve_forever; "
            f"serve_forever({port}, {str(course_dir)!r}, on_ready=lambda url: print('READY', url, flush=True))")
    return subprocess.Popen([sys.executable, "-c", code], cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _read_line(proc: subprocess.Popen, deadline_s: float) -> str:
    ready, _, _ = select.select([proc.stdout], [], [], deadline_s)
    return proc.stdout.readline() if ready else ""


def test_serve_forever_stops_cleanly_on_sigterm(course_dir):
    port = _free_port()
    started = time.monotonic()
    proc = _start_cli_like(port, course_dir)
    try:
        line = _read_line(proc, 30)
        assert line.strip() == f"READY http://127.0.0.1:{port}", line or proc.stderr.read()
        # As the CLI sees it: interpreter start, imports, server, compute, course bucket seeded.
        assert time.monotonic() - started < START_BUDGET_S
        assert sandbox_is_running(f"http://127.0.0.1:{port}")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_port_in_use_is_a_clear_error_not_a_hang(sandbox, course_dir):
    proc = _start_cli_like(sandbox.port, course_dir)
    try:
        assert proc.wait(timeout=30) != 0
        assert "Cannot start the sandbox on 127.0.0.1" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_health_is_not_ready_until_the_course_bucket_is_seeded(sandbox):
    # Clients poll the health route to wait for the sandbox: it must not pass before seeding ends.
    sandbox._ready = False
    try:
        assert get_sandbox_info(sandbox.url) is None
        assert not sandbox_is_running(sandbox.url)
    finally:
        sandbox._ready = True
    assert sandbox_is_running(sandbox.url)
