"""Helpers for the Lambda handler tests: names, a fake context, an S3 event, listing keys."""

from __future__ import annotations

import urllib.parse
import uuid

REGION = "eu-central-1"
MODEL_BUCKET, INPUT_BUCKET, OUTPUT_BUCKET = "model-tester", "input-tester", "output-tester"


class LambdaContext:
    """The parts of Lambda's context object a handler may read (after chalice.local)."""

    def __init__(self, function_name: str = "batch-lambda-tester", memory_size: int = 256,
                 timeout_s: int = 10) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = str(memory_size)
        self.invoked_function_arn = (f"arn:aws:lambda:{REGION}:123456789012:function:"
                                     f"{function_name}")
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "2026/01/01/[$LATEST]0123456789abcdef"
        self._timeout_ms = timeout_s * 1000

    def get_remaining_time_in_millis(self) -> int:
        return self._timeout_ms


def s3_event(bucket: str, key: str, size: int = 0) -> dict:
    """An S3 ObjectCreated:Put notification as Lambda receives it (the key URL-encoded)."""
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": REGION,
        "eventTime": "2026-01-01T00:00:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "batch-lambda",
               "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
               "object": {"key": urllib.parse.quote_plus(key), "size": size,
                          "eTag": "0123456789abcdef0123456789abcdef"}},
    }]}


def keys(client, bucket: str) -> list[str]:
    """Every key in ``bucket``, sorted."""
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))
