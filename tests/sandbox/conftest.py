"""Sandbox fixtures: one in-process Sandbox per test module, on a free port, seeded from test files."""
from __future__ import annotations

import io
import json
import os
import time
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from backend.aws import Aws, Target
from backend.config import COURSE_DIR, COURSE_FILES
from backend.sandbox import Sandbox, course_sources

# The course layer is the biggest course file (≈45-57 MB zipped); seeding a stand-in of that size
# keeps the start-time test honest without building the real artifacts.
LAYER_STAND_IN_BYTES = 50 * 1024 * 1024


@pytest.fixture(scope="session")
def course_dir(tmp_path_factory) -> Path:
    """The real built course files if all exist, else small stand-ins (and a layer-sized one)."""
    if len(course_sources(COURSE_DIR)) == len(COURSE_FILES):
        return COURSE_DIR
    path = tmp_path_factory.mktemp("course")
    for name in COURSE_FILES:
        if name == "layer_file.zip":
            (path / "layer_file.local.zip").write_bytes(os.urandom(LAYER_STAND_IN_BYTES))
            (path / name).write_bytes(b"the python3.12 manylinux layer, for real AWS")
        elif name.endswith(".csv"):
            (path / name).write_text("age,work_class\n39,Local-gov\n")
        else:
            (path / name).write_bytes(f"stand-in for {name}".encode())
    return path


@pytest.fixture(scope="module")
def sandbox(course_dir) -> Sandbox:
    """A running Sandbox on a free port (module scope: moto's state is process-global)."""
    with Sandbox(0, course_dir=course_dir) as running:
        yield running


@pytest.fixture
def sandbox_aws(sandbox) -> Aws:
    """The backend facade pointed at the sandbox."""
    return Aws(Target.sandbox(endpoint_url=sandbox.url))


# --- Lambda helpers ----------------------------------------------------------------------------

TRUST_LAMBDA = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
LOGS_STATEMENT = {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                  "Resource": "arn:aws:logs:*:*:*"}


def zip_bytes(files: dict[str, str | bytes]) -> bytes:
    """Return a zip holding the given {path: content} files."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1) -> Any:
    """Poll predicate until it returns something truthy (returned) or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {predicate}")
        time.sleep(interval)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(name="wait_for")
def wait_for_fixture() -> Callable[..., Any]:
    """The bounded poll, for tests: wait_for(predicate, timeout=30, interval=0.1)."""
    return wait_for


@pytest.fixture(name="zip_bytes")
def zip_bytes_fixture() -> Callable[[dict[str, str | bytes]], bytes]:
    return zip_bytes


@pytest.fixture(name="unique")
def unique_fixture() -> Callable[[str], str]:
    return unique


@pytest.fixture
def make_role(sandbox_aws) -> Callable[..., str]:
    """Factory: a role trusted by Lambda with a customer-managed policy of these statements; its ARN."""
    iam = sandbox_aws.client("iam")

    def make(statements: list[dict[str, Any]], *, logs: bool = True, name: str | None = None) -> str:
        name = name or unique("role")
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA))["Role"]["Arn"]
        document = {"Version": "2012-10-17", "Statement": ([LOGS_STATEMENT] if logs else []) + statements}
        if document["Statement"]:
            policy = iam.create_policy(PolicyName=f"{name}-policy", PolicyDocument=json.dumps(document))
            iam.attach_role_policy(RoleName=name, PolicyArn=policy["Policy"]["Arn"])
        return arn

    return make


@pytest.fixture
def make_function(sandbox_aws, make_role) -> Callable[..., str]:
    """Factory: a python3.12 function from {path: source} files, active; returns its name."""
    lam = sandbox_aws.client("lambda")

    def make(files: dict[str, str | bytes], *, role: str | None = None, handler: str = "app.handler",
             timeout: int = 10, memory: int = 256, env: dict[str, str] | None = None,
             layers: list[str] | None = None, name: str | None = None) -> str:
        name = name or unique("fn")
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=role or make_role([]),
                            Handler=handler, Code={"ZipFile": zip_bytes(files)}, Timeout=timeout,
                            MemorySize=memory, Environment={"Variables": env or {}}, Layers=layers or [])
        lam.get_waiter("function_active_v2").wait(FunctionName=name)
        return name

    return make


@pytest.fixture
def log_messages(sandbox_aws) -> Callable[[str], list[str]]:
    """Return every message in /aws/lambda/<function> (oldest first; [] if the group is missing)."""
    logs = sandbox_aws.client("logs")

    def messages(function: str) -> list[str]:
        try:
            pages = logs.get_paginator("filter_log_events").paginate(logGroupName=f"/aws/lambda/{function}")
            return [e["message"] for page in pages for e in page["events"]]
        except logs.exceptions.ResourceNotFoundException:
            return []

    return messages
