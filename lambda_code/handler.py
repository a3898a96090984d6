"""S3-triggered batch prediction (Lambda python3.12, entry point ``handler.lambda_handler``).

For each CSV uploaded to the input bucket: read it, score every row with the ONNX model and
write ``prediction`` (the label) and ``probability`` (P(>50K)) per row to OUTPUT_BUCKET. A file
that cannot be scored writes no predictions: an ERROR log line and the report
``errors/<input name>.json`` ({"file", "row", "line", "column", "message"}) say where it is
wrong, the input stays where it is, and the invocation fails. The fast CSV reader and scorer
are in ``batch_reader.py``, next to this file in the function's zip.

Environment: MODEL_BUCKET, OUTPUT_BUCKET (required); MODEL_KEY (default model.onnx);
INCLUDE_INPUT (1/true/yes/on: also write the input columns); TIMESTAMP (on: name the output
``<input stem>_predictions_<UTC time>.csv``, not ``predictions.csv``); ORT_THREADS (default 1).
"""
import io
import json
import logging
import os
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import PurePosixPath

import boto3
from boto3.s3.transfer import TransferConfig

from batch_reader import BadInputError, ConfigError, load_session, score_csv

# Lambda sends the root logger's output to CloudWatch Logs, at level WARNING unless configured:
# this module's INFO lines (model loaded, file scored) must get through too.
logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)
# One upload part in flight at a time: the default (10 threads x 8 MB) would add up to 80 MB to
# the peak of a 256 MB function.
UPLOAD = TransferConfig(use_threads=False, multipart_chunksize=8 * 1024 * 1024)
TRUE_VALUES = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    model_bucket: str
    model_key: str
    output_bucket: str
    include_input: bool
    timestamp: bool
    ort_threads: int

    @classmethod
    def from_env(cls, env=os.environ) -> "Settings":
        missing = [n for n in ("MODEL_BUCKET", "OUTPUT_BUCKET") if not env.get(n, "").strip()]
        if missing:
            raise ConfigError(f"environment variable(s) {', '.join(missing)} not set")
        try:
            threads = max(1, int(env.get("ORT_THREADS", "1") or 1))
        except ValueError:
            raise ConfigError(f"ORT_THREADS must be an integer, not {env['ORT_THREADS']!r}") \
                from None
        flag = lambda name: env.get(name, "").strip().lower() in TRUE_VALUES  # noqa: E731
        return cls(env["MODEL_BUCKET"].strip(), env.get("MODEL_KEY", "").strip() or "model.onnx",
                   env["OUTPUT_BUCKET"].strip(), flag("INCLUDE_INPUT"), flag("TIMESTAMP"), threads)


# The S3 client and the model's session live as long as the container: a warm invocation reuses
# them. Made on first use, not at import, so that a missing variable or model fails this
# invocation with a clear log line instead of the container's start (and imports stay cheap).
_S3 = None
_SESSIONS = {}  # (bucket, key, threads) -> onnxruntime.InferenceSession


def s3_client():
    global _S3
    _S3 = _S3 or boto3.client("s3")
    return _S3


def get_session(settings: Settings):
    key = (settings.model_bucket, settings.model_key, settings.ort_threads)
    if key not in _SESSIONS:
        body = s3_client().get_object(Bucket=settings.model_bucket, Key=settings.model_key)["Body"]
        _SESSIONS[key] = load_session(body.read(), settings.ort_threads)
        logger.info("loaded model s3://%s/%s", settings.model_bucket, settings.model_key)
    return _SESSIONS[key]


def lambda_handler(event, context):
    """Score every CSV the S3 event names; raise BadInputError if any could not be scored."""
    try:
        settings = Settings.from_env()
    except ConfigError as err:
        logger.error("configuration: %s", err)
        raise
    results, failures = [], []
    for record in event.get("Records", []):
        if "s3" not in record or not str(record.get("eventName", "ObjectCreated")).startswith(
                "ObjectCreated"):
            continue  # not an upload
        s3 = record["s3"]
        bucket = s3.get("bucket", {}).get("name", "?")
        key = urllib.parse.unquote_plus(str(s3.get("object", {}).get("key", "?")), encoding="utf-8")
        try:
            results.append(score_upload(bucket, key, settings))
        except BadInputError as err:
            failures.append(err)  # reported already; the other files are still scored
        except Exception as err:
            logger.error("s3://%s/%s: %s: %s", bucket, key, type(err).__name__, err)
            raise
    if failures:
        raise failures[0]  # the invocation fails, so the run shows as an error
    return {"records": results}


def score_upload(bucket: str, key: str, settings: Settings) -> dict:
    """Score s3://bucket/key into OUTPUT_BUCKET; return what was written."""
    source = f"s3://{bucket}/{key}"
    if bucket in (settings.output_bucket, settings.model_bucket):
        # Writing into the bucket that triggers us would loop; the model bucket is read-only.
        raise ConfigError(f"{source}: input bucket must differ from OUTPUT_BUCKET and MODEL_BUCKET")
    started = time.monotonic()
    session = get_session(settings)
    body = s3_client().get_object(Bucket=bucket, Key=key)["Body"]
    # Predictions go to a temporary file, uploaded only once every row has been scored.
    with tempfile.TemporaryFile(prefix="predictions-") as tmp:
        text = io.TextIOWrapper(tmp, encoding="utf-8", newline="")
        try:
            rows = score_csv(body, text, session, include_input=settings.include_input,
                             source=source)
        except BadInputError as err:
            report_bad_input(err, key, settings)
            raise
        finally:
            body.close()
        text.detach()  # flushes, and leaves tmp open
        tmp.seek(0)
        out_key = output_key(key, settings.timestamp)
        s3_client().upload_fileobj(tmp, settings.output_bucket, out_key,
                                   ExtraArgs={"ContentType": "text/csv"}, Config=UPLOAD)
    seconds = round(time.monotonic() - started, 3)
    target = f"s3://{settings.output_bucket}/{out_key}"
    logger.info("%s: %d rows scored in %s s -> %s", source, rows, seconds, target)
    return {"input": source, "output": target, "output_key": out_key, "rows": rows,
            "seconds": seconds}


def report_bad_input(err: BadInputError, key: str, settings: Settings) -> None:
    """Write the error report next to the predictions; log one line saying what is wrong where."""
    report_key = error_key(key)
    where = f"s3://{settings.output_bucket}/{report_key}"
    try:
        s3_client().put_object(Bucket=settings.output_bucket, Key=report_key,
                               Body=json.dumps(err.report(), indent=2).encode(),
                               ContentType="application/json")
    except Exception as exc:  # the input's error is what the log line must show: keep going
        where = f"(error report not written: {exc})"
    logger.error("bad input %s; no predictions written; report %s", err, where)


def output_key(input_key: str, timestamp: bool, now: datetime | None = None) -> str:
    if not timestamp:
        return "predictions.csv"
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return f"{PurePosixPath(input_key).stem or 'input'}_predictions_{now:%Y%m%dT%H%M%S%fZ}.csv"


def error_key(input_key: str) -> str:
    return f"errors/{PurePosixPath(input_key).name or 'input'}.json"
