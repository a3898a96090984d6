"""Shared fixtures: hermetic AWS settings for every test (fake credentials, no config files)."""
from __future__ import annotations

import os

import pytest

from backend.aws import Aws, Target
from backend.config import COURSE_BUCKET, COURSE_FILES

# The reliability suite: a category per marked case and its table at the end of every run that collected one.
pytest_plugins = ["tests.reliability.summary"]


def pytest_configure(config):
    """One private data folder for the whole run (module-scoped fixtures and tests must agree on it),
    so nothing lands in the user's real ~/.local/share/mlops-lab."""
    import tempfile

    os.environ["MLOPS_LAB_HOME"] = tempfile.mkdtemp(prefix="mlops-lab-test-home-")
    os.environ["MLOPS_LAB_LOG_DIR"] = tempfile.mkdtemp(prefix="mlops-lab-test-logs-")  # not build/logs


@pytest.fixture(autouse=True)
def hermetic_aws(monkeypatch, tmp_path_factory, request):
    """Fake credentials and region, no AWS config files, no endpoint override, a fresh data folder per test.

    Integration tests keep the run's data folder: their module-scoped deployments and the tests that
    check them must see the same files (private keys, downloads), as one student would.
    """
    home = tmp_path_factory.mktemp("awshome")
    if "tests/integration/" not in str(request.node.path).replace("\\", "/"):
        monkeypatch.setenv("MLOPS_LAB_HOME", str(home / "data"))
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "no-credentials"))


@pytest.fixture
def moto_aws():
    """An in-process moto account; returns the backend facade pointed at it (real-AWS mode, mocked)."""
    from moto import mock_aws

    with mock_aws():
        yield Aws(Target.aws(region="eu-central-1"))


@pytest.fixture
def course_bucket(moto_aws):
    """The course bucket with small stand-ins for the five course files."""
    s3 = moto_aws.client("s3")
    s3.create_bucket(Bucket=COURSE_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    for name in COURSE_FILES:
        body = b"age,work_class\n39,Local-gov\n" if name.endswith(".csv") else f"stand-in for {name}".encode()
        s3.put_object(Bucket=COURSE_BUCKET, Key=name, Body=body)
    return COURSE_BUCKET


def write_fake_course(folder):
    """Small stand-ins for the course files (enough for S3 exercises; no model is run)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in COURSE_FILES:
        body = b"age,work_class\n39,Local-gov\n" if name.endswith(".csv") else f"stand-in for {name}".encode()
        (folder / name).write_bytes(body)
    return folder


@pytest.fixture(scope="module")
def live_sandbox(tmp_path_factory):
    """This project's sandbox in-process on a free 127.0.0.1 port, seeded with stand-in course files.

    Module-scoped: one sandbox may run per process, and other modules start their own.
    """
    from backend.sandbox import Sandbox

    course = write_fake_course(tmp_path_factory.mktemp("course"))
    with Sandbox(port=0, course_dir=course, compute=()) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox_settings(live_sandbox, monkeypatch):
    """Saved dashboard settings pointing at the live sandbox, with a fresh service name."""
    from backend.names import propose_svc
    from backend.settings import LabSettings, save_settings

    monkeypatch.setenv("AWS_ENDPOINT_URL", live_sandbox.url)
    settings = LabSettings(kind="sandbox", endpoint_url=live_sandbox.url, svc=propose_svc("tester"))
    save_settings(settings)
    return settings


def pytest_collection_modifyitems(config, items):
    """Browser tests last: Playwright's sync API keeps an event loop running in the main thread until the
    session ends, which would break later tests that call asyncio.run()."""
    items.sort(key=lambda item: "tests/browser/" in item.nodeid or item.nodeid.startswith("browser/"))
