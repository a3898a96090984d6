"""Exercise 3's page: steps, scoring a CSV (results first, rejections red) and the log viewer's invocations."""
import time
from unittest import mock

import pytest

from backend.aws import Aws
from backend.names import LabNames


PREDICTIONS = (b"prediction,probability,age,education\n"
               b">50K,0.91,45,Masters\n<=50K,0.12,23,HS-grad\n<=50K,0.30,31,Bachelors\n")


def _stored(settings, result: dict) -> dict:
    """Put the result's output object where the result says it is (the page shows only what is still there)."""
    s3 = Aws(settings.target()).client("s3")
    if result["bucket"] not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=result["bucket"], CreateBucketConfiguration={"LocationConstraint": settings.region})
    s3.put_object(Bucket=result["bucket"], Key=result["key"], Body=result["body"])
    return result


def test_page_renders_every_step_with_its_code(sandbox_settings, page_app):
    at = page_app("pages/ex3_lambda.py")
    for step in ("buckets", "policy", "role", "layer", "function", "trigger", "test"):
        assert at.button(key=f"ex3_{step}_run") is not None
    assert any(f"batch-lambda-{sandbox_settings.svc}-policy" in c.value for c in at.code)


def test_buckets_step_creates_them(sandbox_settings, page_app, texts):
    at = page_app("pages/ex3_lambda.py")
    at.button(key="ex3_buckets_run").click().run()
    assert not at.exception
    assert f"Created model-{sandbox_settings.svc}" in texts(at)


def test_a_batch_result_shows_table_and_charts(sandbox_settings, page_app):
    result = {"status": "ok", "key": "input_batch_predictions_x.csv", "bucket": "output-x",
              "input_key": "input_batch.csv", "body": PREDICTIONS}
    _stored(sandbox_settings, result)
    with mock.patch("backend.exercises.ex3_lambda.run_batch", return_value=result) as run_batch:
        at = page_app("pages/ex3_lambda.py")
        at.button(key="ex3_run_course").click().run()
    assert not at.exception
    run_batch.assert_called_once()
    assert any("3 predictions" in s.value for s in at.success)
    assert [s.state for s in at.status] == ["complete"] and "done" in at.status[0].label
    assert list(at.dataframe[0].value.columns[:2]) == ["label", "probability"]  # results first, then the inputs
    assert len(at.get("plotly_chart")) == 2
    at.selectbox(key="ex3_feature").set_value("age").run()
    assert not at.exception


def test_an_error_report_is_shown(sandbox_settings, page_app):
    report = b'{"file": "bad.csv", "row": 3, "column": "age", "message": "row 3, column age: not a number"}'
    result = {"status": "error", "key": "errors/bad.csv.json", "bucket": "output-x", "input_key": "bad.csv",
              "body": report}
    _stored(sandbox_settings, result)
    with mock.patch("backend.exercises.ex3_lambda.run_batch", return_value=result):
        at = page_app("pages/ex3_lambda.py")
        at.button(key="ex3_run_course").click().run()
    assert not at.exception
    assert any("column age" in e.value for e in at.error)
    # A rejected file is a failure: never "done" with a green tick.
    assert [s.state for s in at.status] == ["error"]
    assert not any("done" in s.label for s in at.status)


def test_log_viewer_is_empty_before_any_run(sandbox_settings, page_app):
    at = page_app("pages/ex3_lambda.py")
    assert any("has not run" in i.value for i in at.info)


def test_the_deployed_handler_is_shown(sandbox_settings, page_app):
    at = page_app("pages/ex3_lambda.py")
    assert any("def lambda_handler(" in c.value for c in at.code)


def test_a_result_whose_output_is_gone_is_dropped(sandbox_settings, page_app):
    result = _stored(sandbox_settings, {"status": "ok", "key": "input_batch_predictions_gone.csv", "bucket": "output-x",
                                        "input_key": "input_batch.csv", "body": PREDICTIONS})
    with mock.patch("backend.exercises.ex3_lambda.run_batch", return_value=result):
        at = page_app("pages/ex3_lambda.py")
        at.button(key="ex3_run_course").click().run()
    assert any("3 predictions" in s.value for s in at.success)
    Aws(sandbox_settings.target()).client("s3").delete_object(Bucket=result["bucket"], Key=result["key"])
    at.run()
    assert not at.exception
    assert not any("predictions" in s.value for s in at.success)  # the object is gone: no longer true
    assert any("no longer there" in c.value for c in at.caption)
    assert "ex3_batch" not in at.session_state


def _log(settings, *invocations: list[str]) -> None:
    """Write invocations' lines to the function's log group, one stream, as the Lambda service would."""
    group = LabNames(settings.svc).lambda_log_group
    logs = Aws(settings.target()).client("logs")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="2025/03/01/[$LATEST]abc")
    now = int(time.time() * 1000) - 60_000
    lines = [line for invocation in invocations for line in invocation]
    logs.put_log_events(logGroupName=group, logStreamName="2025/03/01/[$LATEST]abc",
                        logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(lines)])


COLD_OK = ["INIT_START Runtime Version: python:3.12.v38\tRuntime Version ARN: none",
           "START RequestId: ok-1 Version: $LATEST", "[INFO]\tt\tok-1\tinput_batch.csv: 1000 rows scored",
           "END RequestId: ok-1",
           "REPORT RequestId: ok-1\tDuration: 812.40 ms\tBilled Duration: 813 ms\tMemory Size: 1024 MB\t"
           "Max Memory Used: 143 MB\tInit Duration: 1532.10 ms"]
FAILED = ["START RequestId: bad-2 Version: $LATEST",
          "[ERROR] BadInputError: bad.csv: row 3, column age: not a number\n"
          "Traceback (most recent call last):\n"
          '  File "/var/task/handler.py", line 109, in lambda_handler\n'
          "    raise failures[0]",
          "END RequestId: bad-2",
          "REPORT RequestId: bad-2\tDuration: 40.00 ms\tBilled Duration: 40 ms\tMemory Size: 1024 MB\t"
          "Max Memory Used: 150 MB"]
LONE_INIT = ["INIT_START Runtime Version: python:3.12.v38\tRuntime Version ARN: none"]


def test_log_viewer_shows_one_block_per_invocation_newest_first(sandbox_settings, page_app):
    _log(sandbox_settings, COLD_OK, FAILED, LONE_INIT)
    at = page_app("pages/ex3_lambda.py")
    failed = [e.value for e in at.error if "bad-2" in e.value]
    succeeded = [s.value for s in at.success if "ok-1" in s.value]
    assert len(failed) == 1 and len(succeeded) == 1  # two real invocations; the lone INIT_START is none
    error = failed[0]
    assert "BadInputError: bad.csv: row 3, column age: not a number" in error
    # The traceback is a code block inside the red box, one line per line, not one paragraph.
    assert ("```text\nTraceback (most recent call last):\n"
            '  File "/var/task/handler.py", line 109, in lambda_handler\n    raise failures[0]\n```') in error
    assert "812 ms" in succeeded[0] and "max memory 143 of 1024 MB" in succeeded[0]
    assert "cold start (init 1,532 ms, `python:3.12.v38`)" in succeeded[0]  # quoted from the log, as code
    in_page_order = [node.value for node in at.main if node.type in ("error", "success")
                     and ("bad-2" in node.value or "ok-1" in node.value)]
    assert in_page_order == [error, succeeded[0]]  # the newest first
