"""Scoring a CSV with the deployed function: upload it to the input bucket, wait for its output.

The test step, the exercise page's "Score a CSV" and `predict --target lambda` all go through here.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from ... import lambda_, s3
from ...errors import LabError
from ...i18n import _, number
from ...lab import LabContext, Progress, no_progress
from .deploy import TIMESTAMP
from .state import error_report_key, output_matches

WAIT_FOR_OUTPUT_S = 90.0


def wait_for_output(ctx: LabContext, input_key: str, since: datetime, on_progress: Progress = no_progress,
                    timeout: float = WAIT_FOR_OUTPUT_S, sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Poll the output bucket until the predictions (or an error report) for input_key appear.

    Returns {"status": "ok"|"error", "key": …}; raises LabError after `timeout` seconds.
    """
    bucket = ctx.names.output_bucket
    timestamped = TIMESTAMP.get(ctx)
    error_key = error_report_key(input_key)
    deadline = time.monotonic() + timeout
    waited = 0
    while True:
        fresh = [o for o in s3.list_objects(ctx.aws, bucket) if o.last_modified >= since]
        for obj in sorted(fresh, key=lambda o: o.last_modified, reverse=True):
            if obj.key == error_key:
                return {"status": "error", "key": obj.key}
            if output_matches(obj.key, input_key, timestamped):
                return {"status": "ok", "key": obj.key}
        if time.monotonic() >= deadline:
            raise LabError(_("No output for {key} in {bucket} after {seconds} s: see the function's log "
                             "below (is the trigger on the input bucket?).").format(
                                 key=input_key, bucket=bucket, seconds=number(timeout, 0)), "NoOutput")
        if waited % 5 == 0:
            on_progress(_("Waiting for the function to write to {bucket}… ({seconds} s)").format(
                bucket=bucket, seconds=number(waited)))
        sleep(1.0)
        waited += 1


def run_batch(ctx: LabContext, data: bytes, key: str, on_progress: Progress = no_progress,
              timeout: float = WAIT_FOR_OUTPUT_S, sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Upload a CSV to the input bucket and wait for the function's output; return where it is and what it says."""
    names = ctx.names
    if lambda_.get_function(ctx.aws, names.lambda_function) is None:
        raise LabError(_("Function {name} does not exist yet: run exercise 3's steps first.").format(
            name=names.lambda_function), "MissingFunction")
    since = datetime.now(timezone.utc) - timedelta(seconds=2)  # tolerate clock granularity of LastModified
    s3.put_bytes(ctx.aws, names.input_bucket, key, data, content_type="text/csv")
    on_progress(_("Uploaded {key} ({size} bytes) to {bucket}.").format(
        key=key, size=number(len(data)), bucket=names.input_bucket))
    found = wait_for_output(ctx, key, since, on_progress, timeout, sleep)
    body = s3.read_object(ctx.aws, names.output_bucket, found["key"])
    url = f"s3://{names.output_bucket}/{found['key']}"
    done = _("Predictions at {url}.") if found["status"] == "ok" else _("Error report at {url}.")
    on_progress(done.format(url=url))
    return {**found, "bucket": names.output_bucket, "input_key": key, "body": body}
