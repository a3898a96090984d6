"""Bad input the other suites did not cover: an unclosed quote in a batch file, bad values in the predict form.

(The handler's other bad-CSV cases, schemathesis on ec2_app and the record validation are marked where
they live: tests/lambda_code/test_handler.py, tests/ec2_app/test_ec2_app_schemathesis.py,
tests/test_local_model.py.)
"""
from __future__ import annotations

import json
import urllib.parse

import pytest

from backend import cli
from backend.artifacts import FEATURES, SAMPLE_RECORD

from .conftest import INPUT_BUCKET, OUTPUT_BUCKET, REGION

pytestmark = pytest.mark.reliability("bad input")

HEADER = ",".join(FEATURES)
ROW = ",".join(str(SAMPLE_RECORD[f]) for f in FEATURES)


class Context:
    function_name = "batch-lambda-reliability"
    aws_request_id = "0" * 32
    memory_limit_in_mb = "256"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def upload_event(s3, key: str, body: bytes) -> dict:
    s3.put_object(Bucket=INPUT_BUCKET, Key=key, Body=body)
    return {"Records": [{"eventSource": "aws:s3", "awsRegion": REGION, "eventName": "ObjectCreated:Put",
                         "s3": {"bucket": {"name": INPUT_BUCKET},
                                "object": {"key": urllib.parse.quote_plus(key), "size": len(body)}}}]}


@pytest.mark.parametrize("rows_after", [1, 3, 2_000])
def test_an_unclosed_quote_is_reported_at_the_line_where_it_opens(lambda_module, function_buckets, rows_after):
    """Line 4 opens a quote that is never closed: the csv module reads on to the end of the file,
    but the report must send the student to line 4, not to the last line."""
    body = "\n".join([HEADER, ROW, ROW, ROW.replace("Masters", '"Masters'), *[ROW] * rows_after]) + "\n"
    event = upload_event(function_buckets, "quote.csv", body.encode())

    with pytest.raises(lambda_module.BadInputError) as info:
        lambda_module.lambda_handler(event, Context())

    report = json.loads(function_buckets.get_object(Bucket=OUTPUT_BUCKET, Key="errors/quote.csv.json")["Body"].read())
    assert (report["row"], report["line"]) == (3, 4) == (info.value.row, info.value.line)
    assert "quoted field opened on line 4" in report["message"] and "closing quote missing" in report["message"]
    listed = function_buckets.list_objects_v2(Bucket=OUTPUT_BUCKET)["Contents"]
    assert [o["Key"] for o in listed] == ["errors/quote.csv.json"]  # no predictions for a broken file


@pytest.mark.parametrize("field, value, words", [
    ("age", "old", "field 'age': expected a whole number, got 'old'"),
    ("hours_per_week", 28.5, "field 'hours_per_week': expected a whole number"),
    ("capital_gain", [1], "field 'capital_gain': expected a whole number"),
    ("sex", 1, "field 'sex': expected text"),
])
def test_predict_names_the_field_with_a_wrong_type(capsys, field, value, words):
    """The playground's form and `predict --record` go through the same validation: one line naming the field."""
    record = dict(SAMPLE_RECORD, **{field: value})
    code = cli.main(["predict", "--target", "local", "--svc", "anna-1a2b3c", "--record", json.dumps(record)])
    err = capsys.readouterr().err
    assert code != cli.EXIT_OK
    assert words in err and "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("error:")] == [line for line in err.splitlines()
                                                                               if line.strip()]


def test_predict_names_the_line_and_field_of_a_bad_csv(capsys, tmp_path):
    path = tmp_path / "batch.csv"
    path.write_text("\n".join([HEADER, ROW, ROW.replace("28", "twenty-eight")]) + "\n")
    code = cli.main(["predict", "--target", "local", "--svc", "anna-1a2b3c", "--csv", str(path)])
    err = capsys.readouterr().err
    assert code != cli.EXIT_OK
    assert "batch.csv, line 3, field 'hours_per_week'" in err and "Traceback" not in err
