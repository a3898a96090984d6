"""Nothing outlives the sandbox: on kill -9 its children die within 5 s and the next start cleans up.

The sandbox runs as a real process (`python -m backend sandbox`) on its own data dir
(MLOPS_LAB_HOME), with children of every kind: a Lambda function that sleeps longer than the test,
an EC2 instance's app (uvicorn), and an endpoint's MLflow scoring server when the course is built.
"""
from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
import uuid
import zipfile
from pathlib import Path

import pytest

from backend.aws import Aws, Target
from backend.config import COURSE_DIR
from backend.sandbox import children, sandbox_is_running
from backend.sandbox.ec2_compute import SANDBOX_UBUNTU

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
START_BUDGET_S = 180  # a first start may build the course artifacts
DEATH_BUDGET_S = 5.0
MODEL_ZIP = COURSE_DIR / "mlflow_model.zip"
ASGI_APP = b'''
async def app(scope, receive, send):
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
'''
SLEEPER = "import time\n\ndef handler(event, context):\n    time.sleep(600)\n"


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.1):
    """Poll predicate until it returns something truthy (returned) or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {predicate}")
        time.sleep(interval)
    return value


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def zip_bytes(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


# --- the processes, seen from /proc ------------------------------------------------------------

def stat(pid: int) -> tuple[str, int, int] | None:
    """(state, process group, session) of a live process, None if gone or a zombie."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()
    return None if fields[0] in ("Z", "X") else (fields[0], int(fields[2]), int(fields[3]))


def group_members(groups: set[int]) -> list[int]:
    """Live processes in any of these process groups or sessions."""
    members = []
    for name in os.listdir("/proc"):
        if name.isdigit() and (info := stat(int(name))) and (info[1] in groups or info[2] in groups):
            members.append(int(name))
    return members


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def refused(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- a sandbox process -------------------------------------------------------------------------

class SandboxProcess:
    """`python -m backend sandbox` on a free port and its own data dir."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "MLOPS_LAB_HOME": str(data_dir)}
        env.pop("AWS_ENDPOINT_URL", None)
        self.log = log
        self.proc = subprocess.Popen([sys.executable, "-m", "backend", "sandbox", "--port", str(self.port)], cwd=ROOT,
                                     env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
        self.run_dir: Path | None = None
        deadline = time.monotonic() + START_BUDGET_S
        while not sandbox_is_running(self.url, timeout=1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                pytest.fail(f"sandbox did not start (exit {self.proc.poll()}):\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        runs = data_dir / children.RUNS_DIRNAME
        self.run_dir = wait_for(lambda: next(iter(runs.glob(f"{self.proc.pid}-*")), None), timeout=10)

    @property
    def aws(self) -> Aws:
        """Clients as the lab makes them (the sandbox's keys are read from the same data dir)."""
        return Aws(Target.sandbox(endpoint_url=self.url))

    def client(self, service: str):
        return self.aws.client(service)

    def children(self) -> dict[int, list[str]]:
        """The children it recorded that still run: pid -> command line."""
        pids = [int(p.name) for p in (self.run_dir / "children").glob("*")]
        return {pid: cmdline(pid) for pid in pids if stat(pid)}

    def child_running(self, marker: str) -> int | None:
        return next((pid for pid, argv in self.children().items() if any(marker in a for a in argv)), None)

    def health(self) -> dict:
        import urllib.request

        with urllib.request.urlopen(f"{self.url}/_lab/health", timeout=5) as resp:
            return json.loads(resp.read())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """The lab's data dir of the sandbox under test, for this process too (the sandbox's keys live there)."""
    path = tmp_path / "lab-home"
    monkeypatch.setenv("MLOPS_LAB_HOME", str(path))
    return path


# --- what starts children ----------------------------------------------------------------------

def start_sleeping_function(sandbox: SandboxProcess) -> None:
    """A function with a 15-minute timeout that sleeps 10 minutes, invoked asynchronously."""
    iam, lam = sandbox.client("iam"), sandbox.client("lambda")
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    role = iam.create_role(RoleName=unique("sleeper"), AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    name = unique("sleeper")
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                        Code={"ZipFile": zip_bytes({"app.py": SLEEPER})}, Timeout=900, MemorySize=256)
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    wait_for(lambda: sandbox.child_running("lambda_bootstrap.py"), timeout=60)


def start_instance_app(sandbox: SandboxProcess) -> int:
    """An instance whose user data runs an app bundle (as exercise 4's does); returns the app's port."""
    s3, ec2 = sandbox.client("s3"), sandbox.client("ec2")
    bucket = unique("bundles")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        info = tarfile.TarInfo("app.py")
        info.size = len(ASGI_APP)
        tar.addfile(info, io.BytesIO(ASGI_APP))
    s3.put_object(Bucket=bucket, Key="bundle.tar.gz", Body=archive.getvalue())
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "bundle.tar.gz"}, ExpiresIn=600)
    ami = next(iter(SANDBOX_UBUNTU.values()))[0]
    user_data = f"#!/bin/bash\nBUNDLE_URL='{url}'\ndocker run -d -p 8000:8000 income-api\n"
    ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t3.micro", UserData=user_data)
    pid = wait_for(lambda: sandbox.child_running("uvicorn"), timeout=60)
    argv = cmdline(pid)
    port = int(argv[argv.index("--port") + 1])
    wait_for(lambda: not refused(port), timeout=60)
    return port


def start_endpoint(sandbox: SandboxProcess, tmp_path: Path) -> int:
    """An endpoint serving the course's MLflow model; returns its scoring server's port."""
    from backend import ecr, iam, s3, sagemaker

    aws = sandbox.aws
    repo = ecr.ensure_repository(aws, "mlflow-pyfunc")
    ecr.record_push(aws, "mlflow-pyfunc", "3.17.2")
    role = iam.ensure_role(aws, "lifetime-sagemaker-role", "sagemaker.amazonaws.com")
    s3.ensure_bucket(aws, "lifetime-models")
    model = tmp_path / "mlflow_model"
    zipfile.ZipFile(MODEL_ZIP).extractall(model)
    sagemaker.mlflow_deploy(aws, sagemaker.DeploySpec(
        name="lifetime-endpoint", model_uri=str(model), execution_role_arn=role.arn, bucket="lifetime-models",
        image_url=f"{repo.uri}:3.17.2", instance_type="ml.m5.large", instance_count=1, tags={"lab:student": "tests"}))
    pid = wait_for(lambda: sandbox.child_running("mlflow.pyfunc.scoring_server"), timeout=60)
    argv = cmdline(pid)
    return int(argv[argv.index("--port") + 1])


# --- the tests ---------------------------------------------------------------------------------

@pytest.mark.reliability("faults")
def test_kill_9_leaves_nothing_running_and_the_next_start_cleans_up(data_dir, tmp_path):
    first = SandboxProcess(data_dir, tmp_path / "first.log")
    try:
        start_sleeping_function(first)
        ports = [start_instance_app(first)]
        if MODEL_ZIP.is_file():  # the MLflow server needs the built course model
            ports.append(start_endpoint(first, tmp_path))
        ours = first.children()
        assert any("lambda_bootstrap.py" in " ".join(a) for a in ours.values()), ours
        temp_folders = sorted((first.run_dir / "tmp").iterdir())
        assert temp_folders, "the sandbox's temp folders live in its run folder"

        first.proc.kill()
        killed_at = time.monotonic()
        first.proc.wait()
        groups = set(ours)
        while group_members(groups) and time.monotonic() - killed_at < DEATH_BUDGET_S:
            time.sleep(0.05)
        survivors = {pid: cmdline(pid) for pid in group_members(groups)}
        assert not survivors, f"still running {DEATH_BUDGET_S} s after kill -9 of the sandbox: {survivors}"
        for port in [first.port, *ports]:
            assert refused(port), f"port {port} still answers after the sandbox was killed"
        assert all(folder.exists() for folder in temp_folders)  # only a new start knows they are left over
    finally:
        first.stop()

    second = SandboxProcess(data_dir, tmp_path / "second.log")
    try:
        assert not first.run_dir.exists(), "the new sandbox did not clean what the killed one left"
        assert [p.name for p in (data_dir / children.RUNS_DIRNAME).iterdir()] == [second.run_dir.name]
    finally:
        second.stop()


def test_sighup_stops_the_sandbox_cleanly(data_dir, tmp_path):
    sandbox = SandboxProcess(data_dir, tmp_path / "sandbox.log")
    try:
        start_sleeping_function(sandbox)
        ours = set(sandbox.children())
        sandbox.proc.send_signal(signal.SIGHUP)
        assert sandbox.proc.wait(timeout=30) == 0, sandbox.log.read_text()[-3000:]
        assert not group_members(ours), "a child outlived a clean stop"
        assert not sandbox.run_dir.exists(), "a clean stop removes the run folder and its temp folders"
        assert refused(sandbox.port)
    finally:
        sandbox.stop()


# --- children.py on its own ----------------------------------------------------------------------

SPAWNER = """
import sys, threading, time
from backend.sandbox import children

def spawn():
    proc = children.spawn(["sh", "-c", "sleep 300 & sleep 300"])
    print(proc.pid, flush=True)

thread = threading.Thread(target=spawn)  # spawned from a thread that ends at once, as a pool's may
thread.start()
thread.join()
print(children.temp_dir("mlops-lab-test-"), flush=True)
time.sleep(300)
"""


def test_a_child_spawned_from_an_ended_thread_lives_until_its_sandbox_dies(data_dir, tmp_path):
    env = {**os.environ, "MLOPS_LAB_HOME": str(data_dir)}
    parent = subprocess.Popen([sys.executable, "-c", SPAWNER], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        folder = Path(parent.stdout.readline().strip())
        time.sleep(1.0)
        assert stat(child) is not None, "the child died with the thread that spawned it"
        assert len(group_members({child})) >= 3  # the command, its background sleep and the watcher
        parent.kill()
        parent.wait()
        wait_for(lambda: not group_members({child}), timeout=DEATH_BUDGET_S, interval=0.05)
        assert folder.is_dir()
    finally:
        parent.kill()
    children_env_clean = subprocess.run(
        [sys.executable, "-c", "from backend.sandbox import children; children.clean_leftovers()"],
        cwd=ROOT, env=env, timeout=60)
    assert children_env_clean.returncode == 0
    assert not folder.exists()


def test_cleaning_never_kills_a_process_whose_pid_was_recycled(data_dir):
    bystander = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        # A dead sandbox's record naming the bystander's pid with another start time: a recycled pid.
        run = data_dir / children.RUNS_DIRNAME / "999999-1"
        (run / "children").mkdir(parents=True)
        (run / "run.json").write_text(json.dumps({"pid": 999999, "start": 1, "boot_id": children._boot_id(),
                                                  "host": socket.gethostname()}))
        start = children._stat(bystander.pid)[2]
        (run / "children" / str(bystander.pid)).write_text(json.dumps({"pid": bystander.pid, "start": start + 1}))
        children.clean_leftovers()
        assert not run.exists()
        assert bystander.poll() is None, "a process that merely reuses a recorded pid was killed"
    finally:
        bystander.kill()
        bystander.wait()


def test_a_child_that_ends_takes_what_it_started_with_it(data_dir):
    proc = children.spawn(["sh", "-c", "sleep 300 & exit 3"])
    assert proc.wait(timeout=10) == 3
    wait_for(lambda: not group_members({proc.pid}), timeout=DEATH_BUDGET_S, interval=0.05)
    missing = children.spawn(["/nonexistent/command"], stderr=subprocess.PIPE)
    assert missing.wait(timeout=10) == 127 and b"/nonexistent/command" in missing.stderr.read()


def test_spawning_from_many_threads_at_once_records_every_child(data_dir):
    procs: list[subprocess.Popen] = []
    threads = [threading.Thread(target=lambda: procs.append(children.spawn(["sleep", "30"]))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        records = {p.name for p in (children._current_run().folder / "children").iterdir()}
        assert {str(p.pid) for p in procs} <= records
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
