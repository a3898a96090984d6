"""Fixtures for the reliability cases that live here (the table itself: summary.py, loaded by tests/conftest.py).

The Lambda handler is imported as Lambda imports it (its folder on sys.path, `handler` a top-level
module), as tests/lambda_code does, and scores with the course's own model.
"""
from __future__ import annotations

import sys

import pytest

from backend.config import COURSE_DIR, PROJECT_ROOT

LAMBDA_DIR = PROJECT_ROOT / "lambda_code"
REGION = "eu-central-1"
MODEL_BUCKET, INPUT_BUCKET, OUTPUT_BUCKET = "model-reliability", "input-reliability", "output-reliability"
COURSE_MODEL = COURSE_DIR / "model.onnx"


@pytest.fixture
def lambda_module(monkeypatch):
    """The handler module, fresh caches (each test a cold start)."""
    if str(LAMBDA_DIR) not in sys.path:
        sys.path.insert(0, str(LAMBDA_DIR))
    import handler

    monkeypatch.setattr(handler, "_S3", None)
    monkeypatch.setattr(handler, "_SESSIONS", {})
    return handler


@pytest.fixture
def function_buckets(monkeypatch):
    """moto S3 with the function's three buckets, the course model uploaded, and its environment."""
    if not COURSE_MODEL.is_file():
        pytest.skip("needs the built course (python -m backend course build)")
    import boto3
    from moto import mock_aws

    for var in ("AWS_ENDPOINT_URL", "INCLUDE_INPUT", "TIMESTAMP", "ORT_THREADS", "MODEL_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_REGION", REGION)
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        for bucket in (MODEL_BUCKET, INPUT_BUCKET, OUTPUT_BUCKET):
            client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        client.upload_file(str(COURSE_MODEL), MODEL_BUCKET, "model.onnx")
        monkeypatch.setenv("MODEL_BUCKET", MODEL_BUCKET)
        monkeypatch.setenv("OUTPUT_BUCKET", OUTPUT_BUCKET)
        yield client
