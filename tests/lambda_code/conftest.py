"""Fixtures for the Lambda handler tests: moto in-process, the handler imported as Lambda does.

Lambda puts the function's folder on sys.path and imports ``handler`` as a top-level module;
these tests do the same, so nothing here can lean on the ``backend`` package.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

HERE = Path(__file__).resolve().parent
LAMBDA_DIR = HERE.parents[1] / "lambda_code"
for path in (LAMBDA_DIR, HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import batch_reader as batch_reader_module  # noqa: E402
import handler as lambda_handler_module  # noqa: E402
from lambda_helpers import (  # noqa: E402
    INPUT_BUCKET, MODEL_BUCKET, OUTPUT_BUCKET, REGION, LambdaContext)
from lambda_model_factory import make_model  # noqa: E402

@pytest.fixture(autouse=True)
def fake_aws_env(monkeypatch, tmp_path):
    """Fake credentials and region, no config files, no endpoint override; fresh handler caches."""
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
                "INCLUDE_INPUT", "TIMESTAMP", "ORT_THREADS", "MODEL_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SECURITY_TOKEN", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    # A client made under an earlier test's mock would miss this test's; each test is a cold start.
    monkeypatch.setattr(lambda_handler_module, "_S3", None)
    monkeypatch.setattr(lambda_handler_module, "_SESSIONS", {})


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is when a record comes (capsys replaces it per test)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout
        super().emit(record)


@pytest.fixture(autouse=True)
def lambda_runtime_logging():
    """The root log handler Lambda's Python runtime installs: ``[LEVEL]\t...\t<message>`` lines on
    stdout, which go to CloudWatch Logs; the root logger stays at its default level, WARNING."""
    handler = _StdoutHandler()
    handler.setFormatter(logging.Formatter("[%(levelname)s]\t%(asctime)s\t%(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    yield
    root.removeHandler(handler)


@pytest.fixture(scope="session")
def model_path(tmp_path_factory) -> Path:
    """A model with the course model's signature and metadata (trained once per session)."""
    return make_model(tmp_path_factory.mktemp("model") / "model.onnx")


@pytest.fixture(scope="session")
def session(model_path):
    """A bare onnxruntime session on the test model, to compare the handler against."""
    import onnxruntime as ort

    return ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])


@pytest.fixture
def handler():
    """The handler module, imported as Lambda imports it."""
    return lambda_handler_module


@pytest.fixture
def batch_reader():
    """The reader and scorer module of the function's zip, imported as the handler imports it."""
    return batch_reader_module


@pytest.fixture
def s3(model_path, monkeypatch):
    """moto S3 with the lab's three buckets, the model uploaded, and the function's environment."""
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        for bucket in (MODEL_BUCKET, INPUT_BUCKET, OUTPUT_BUCKET):
            client.create_bucket(Bucket=bucket,
                                 CreateBucketConfiguration={"LocationConstraint": REGION})
        client.upload_file(str(model_path), MODEL_BUCKET, "model.onnx")
        monkeypatch.setenv("MODEL_BUCKET", MODEL_BUCKET)
        monkeypatch.setenv("OUTPUT_BUCKET", OUTPUT_BUCKET)
        yield client


@pytest.fixture
def context() -> LambdaContext:
    return LambdaContext()
