"""The Lambda handler end to end: an S3 event in, objects in moto's S3 out."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from lambda_helpers import INPUT_BUCKET, MODEL_BUCKET, OUTPUT_BUCKET, keys, s3_event
from lambda_model_factory import FEATURES, NUMERIC, make_rows


def csv_bytes(cols: dict[str, np.ndarray], columns=FEATURES, crlf=False) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(columns)
    writer.writerows(zip(*[cols[c].tolist() for c in columns]))
    return out.getvalue().encode()


def bare_predictions(session, cols: dict[str, np.ndarray]) -> tuple[list[str], np.ndarray]:
    """Labels and P(>50K) from onnxruntime itself, on arrays built by hand."""
    feed = {}
    for name in FEATURES:
        values = cols[name]
        feed[name] = (values.astype(np.int64) if name in NUMERIC
                      else values.astype(object)).reshape(-1, 1)
    labels, proba = session.run(["label", "probabilities"], feed)
    return labels.tolist(), proba[:, 1]


def read_csv(client, bucket, key) -> list[dict[str, str]]:
    body = client.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    return list(csv.DictReader(io.StringIO(body)))


def upload(client, key: str, body: bytes) -> dict:
    client.put_object(Bucket=INPUT_BUCKET, Key=key, Body=body)
    return s3_event(INPUT_BUCKET, key, len(body))


def test_predictions_land_in_the_output_bucket_only(handler, s3, context, session):
    cols = make_rows(250, seed=1)
    event = upload(s3, "input_batch.csv", csv_bytes(cols))

    result = handler.lambda_handler(event, context)

    assert keys(s3, OUTPUT_BUCKET) == ["predictions.csv"]
    assert keys(s3, INPUT_BUCKET) == ["input_batch.csv"]
    assert keys(s3, MODEL_BUCKET) == ["model.onnx"]
    rows = read_csv(s3, OUTPUT_BUCKET, "predictions.csv")
    assert list(rows[0]) == ["prediction", "probability"]
    labels, positive = bare_predictions(session, cols)
    assert [r["prediction"] for r in rows] == labels
    np.testing.assert_allclose([float(r["probability"]) for r in rows], positive, atol=1.01e-6)
    (summary,) = result["records"]
    assert summary["rows"] == 250
    assert summary["input"] == f"s3://{INPUT_BUCKET}/input_batch.csv"
    assert summary["output"] == f"s3://{OUTPUT_BUCKET}/predictions.csv"
    assert summary["output_key"] == "predictions.csv"


def test_include_input_writes_the_input_columns_as_read(handler, s3, context, monkeypatch):
    monkeypatch.setenv("INCLUDE_INPUT", "yes")
    cols = make_rows(20, seed=2)
    cols["age"] = cols["age"].astype(object)
    cols["age"][3] = ""  # missing: scored with the median, written back as it was read
    cols["note"] = np.array(["extra, ignored"] * 20, dtype=object)  # quoted: the csv path
    event = upload(s3, "batch.csv", csv_bytes(cols, columns=["note", *FEATURES[::-1]]))

    handler.lambda_handler(event, context)

    rows = read_csv(s3, OUTPUT_BUCKET, "predictions.csv")
    assert set(rows[0]) == {*FEATURES, "prediction", "probability"}
    for i, row in enumerate(rows):
        assert {f: row[f] for f in FEATURES} == {f: str(cols[f][i]) for f in FEATURES}
    assert rows[3]["age"] == ""
    assert all(row["prediction"] in ("<=50K", ">50K") for row in rows)


def test_timestamp_names_the_output_after_the_input(handler, s3, context, monkeypatch):
    monkeypatch.setenv("TIMESTAMP", "on")
    event = upload(s3, "input_batch.csv", csv_bytes(make_rows(5)))

    result = handler.lambda_handler(event, context)

    (key,) = keys(s3, OUTPUT_BUCKET)
    assert re.fullmatch(r"input_batch_predictions_\d{8}T\d{12}Z\.csv", key)
    assert result["records"][0]["output_key"] == key


def test_url_encoded_key_with_spaces(handler, s3, context, monkeypatch):
    monkeypatch.setenv("TIMESTAMP", "true")
    key = "uploads/my batch+ü.csv"
    event = upload(s3, key, csv_bytes(make_rows(7)))
    assert event["Records"][0]["s3"]["object"]["key"] == "uploads%2Fmy+batch%2B%C3%BC.csv"

    result = handler.lambda_handler(event, context)

    (out_key,) = keys(s3, OUTPUT_BUCKET)
    assert out_key.startswith("my batch+ü_predictions_")
    assert result["records"][0]["input"] == f"s3://{INPUT_BUCKET}/{key}"
    assert result["records"][0]["rows"] == 7


def test_warm_calls_reuse_the_session_and_carry_nothing_over(handler, s3, context, session,
                                                             monkeypatch):
    loads = []
    real_load = handler.load_session
    monkeypatch.setattr(handler, "load_session",
                        lambda *a, **kw: loads.append(a) or real_load(*a, **kw))
    first, second = make_rows(30, seed=3), make_rows(4, seed=4)

    handler.lambda_handler(upload(s3, "first.csv", csv_bytes(first)), context)
    client = handler._S3
    handler.lambda_handler(upload(s3, "second.csv", csv_bytes(second)), context)

    assert len(loads) == 1
    assert handler._S3 is client
    rows = read_csv(s3, OUTPUT_BUCKET, "predictions.csv")
    labels, positive = bare_predictions(session, second)
    assert len(rows) == 4  # the handout's global buffer would hold 34 rows here
    assert [r["prediction"] for r in rows] == labels
    np.testing.assert_allclose([float(r["probability"]) for r in rows], positive, atol=1.01e-6)


def test_a_new_model_key_loads_a_new_session(handler, s3, context, model_path, monkeypatch):
    s3.upload_file(str(model_path), MODEL_BUCKET, "v2/model.onnx")
    handler.lambda_handler(upload(s3, "a.csv", csv_bytes(make_rows(3))), context)
    monkeypatch.setenv("MODEL_KEY", "v2/model.onnx")
    handler.lambda_handler(upload(s3, "b.csv", csv_bytes(make_rows(3))), context)
    assert sorted(handler._SESSIONS) == [(MODEL_BUCKET, "model.onnx", 1),
                                         (MODEL_BUCKET, "v2/model.onnx", 1)]


def test_missing_values_and_unknown_categories_are_scored(handler, s3, context, session):
    body = ("age,work_class,education,marital_status,occupation,relationship,race,sex,"
            "capital_gain,capital_loss,hours_per_week,native_country\n"
            ",Private,Masters,Married-civ-spouse,Prof-specialty,Husband,White,Male,0,0,,Atlantis\n"
            "39,,,,,,,,,,40,\n"
            "52,Starfleet,Bachelors,Divorced,Sales,Unmarried,Martian,Female,5000,0,45,Mars\n")
    event = upload(s3, "gaps.csv", body.encode())

    handler.lambda_handler(event, context)

    rows = read_csv(s3, OUTPUT_BUCKET, "predictions.csv")
    fill = json.loads(session.get_modelmeta().custom_metadata_map["numeric_fill"])
    cols = {name: np.array(values, dtype=object) for name, values in zip(FEATURES, zip(*[
        line.split(",") for line in body.splitlines()[1:]]))}
    for name in NUMERIC:
        cols[name] = np.array([int(v) if v else round(fill[name]) for v in cols[name]])
    labels, positive = bare_predictions(session, cols)
    assert [r["prediction"] for r in rows] == labels
    np.testing.assert_allclose([float(r["probability"]) for r in rows], positive, atol=1.01e-6)


def _zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("input_batch.csv", "age,work_class\n39,Private\n" * 50)
    return buf.getvalue()


HEADER = ",".join(FEATURES)
ROW = ("39,State-gov,Bachelors,Never-married,Adm-clerical,Not-in-family,White,Male,2174,0,40,"
       "United-States")
SHORT_ROW = ROW.rsplit(",", 1)[0]
BAD_AGE_ROW = "abc" + ROW[2:]
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"

BAD_INPUTS = {
    # name: (body, row, line, column, words in the message)
    "missing_column": (f"{HEADER.replace('age,', '')}\n{ROW.split(',', 1)[1]}\n".encode(),
                       None, 1, "age", "missing column"),
    "non_numeric": (f"{HEADER}\n{ROW}\n{ROW}\n{BAD_AGE_ROW}\n{ROW}\n".encode(),
                    3, 4, "age", "not a number"),
    "wrong_field_count": (f"{HEADER}\n{ROW}\n{SHORT_ROW}\n{ROW}\n".encode(),
                          2, 3, None, "11 fields"),
    "too_many_fields": (f"{HEADER}\n{ROW},extra\n".encode(), 1, 2, None, "13 fields"),
    "empty_file": (b"", None, None, None, "empty"),
    "header_only": (f"{HEADER}\n".encode(), None, None, None, "no data rows"),
    "not_utf8": (f"{HEADER}\n{ROW}\n".encode()
                 + ROW.replace("Bachelors", "Bachel\xf6rs").encode("latin-1") + b"\n",
                 None, 3, "education", "not UTF-8"),
    "png": (PNG, None, 1, None, "not UTF-8"),
    "zip": (_zip_bytes(), None, 1, None, "not a"),
    "json": (b'{"age": 39, "work_class": "Private", "education": "Masters"}\n',
             None, 1, None, "none of"),
}


@pytest.mark.reliability("bad input")
@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_writes_a_report_and_no_predictions(handler, s3, context, capsys, case):
    body, row, line, column, words = BAD_INPUTS[case]
    name = f"{case}.csv"
    event = upload(s3, name, body)
    capsys.readouterr()

    with pytest.raises(handler.BadInputError) as info:
        handler.lambda_handler(event, context)

    assert keys(s3, OUTPUT_BUCKET) == [f"errors/{name}.json"]
    report = json.loads(s3.get_object(Bucket=OUTPUT_BUCKET,
                                      Key=f"errors/{name}.json")["Body"].read())
    assert report["file"] == f"s3://{INPUT_BUCKET}/{name}"
    assert (report["row"], report["line"]) == (row, line)
    if column is None:
        assert report["column"] is None or case == "missing_column"
    else:
        assert report["column"] == column
    assert words in report["message"]
    assert info.value.report() == report
    log = [ln for ln in capsys.readouterr().out.splitlines() if "ERROR" in ln]
    assert len(log) == 1
    assert f"s3://{INPUT_BUCKET}/{name}" in log[0] and words in log[0]
    if row is not None:
        assert f"data row {row}" in log[0]
    if column is not None:
        assert f"column '{column}'" in log[0]


def test_a_bad_row_after_the_first_block_still_writes_nothing(handler, s3, context):
    cols = make_rows(30_000, seed=5)  # about 2.6 MB: several read blocks and model calls
    body = csv_bytes(cols) + BAD_AGE_ROW.encode() + b"\n"
    event = upload(s3, "big.csv", body)

    with pytest.raises(handler.BadInputError) as info:
        handler.lambda_handler(event, context)

    assert (info.value.row, info.value.line, info.value.column) == (30_001, 30_002, "age")
    assert keys(s3, OUTPUT_BUCKET) == ["errors/big.csv.json"]


def test_a_missing_model_fails_with_one_log_line(handler, s3, context, capsys, monkeypatch):
    monkeypatch.setenv("MODEL_KEY", "nope.onnx")
    event = upload(s3, "a.csv", csv_bytes(make_rows(2)))
    with pytest.raises(Exception, match="NoSuchKey"):
        handler.lambda_handler(event, context)
    log = [ln for ln in capsys.readouterr().out.splitlines() if "ERROR" in ln]
    assert len(log) == 1 and "a.csv" in log[0]
    assert keys(s3, OUTPUT_BUCKET) == []


@pytest.mark.parametrize("output", [INPUT_BUCKET, MODEL_BUCKET])
def test_refuses_to_write_into_the_input_or_model_bucket(handler, s3, context, monkeypatch,
                                                         output):
    monkeypatch.setenv("OUTPUT_BUCKET", output)
    if output == MODEL_BUCKET:
        monkeypatch.setenv("MODEL_BUCKET", INPUT_BUCKET)
    event = upload(s3, "a.csv", csv_bytes(make_rows(2)))
    with pytest.raises(handler.ConfigError):
        handler.lambda_handler(event, context)
    assert keys(s3, INPUT_BUCKET) == ["a.csv"]
    assert keys(s3, MODEL_BUCKET) == ["model.onnx"]


def test_missing_environment_is_a_config_error(handler, s3, context, monkeypatch):
    monkeypatch.delenv("OUTPUT_BUCKET")
    with pytest.raises(handler.ConfigError, match="OUTPUT_BUCKET"):
        handler.lambda_handler(s3_event(INPUT_BUCKET, "a.csv"), context)


def test_an_event_without_s3_records_does_nothing(handler, s3, context):
    assert handler.lambda_handler({"Records": []}, context) == {"records": []}
    assert handler.lambda_handler({}, context) == {"records": []}
    assert keys(s3, OUTPUT_BUCKET) == []


@pytest.mark.parametrize(("env", "expected"), [
    ({}, (False, False, 1, "model.onnx")),
    ({"INCLUDE_INPUT": "1", "TIMESTAMP": "on", "ORT_THREADS": "2", "MODEL_KEY": "m/x.onnx"},
     (True, True, 2, "m/x.onnx")),
    ({"INCLUDE_INPUT": "TRUE", "TIMESTAMP": "off"}, (True, False, 1, "model.onnx")),
    ({"INCLUDE_INPUT": "no", "TIMESTAMP": "0"}, (False, False, 1, "model.onnx")),
])
def test_settings_from_env(handler, env, expected):
    settings = handler.Settings.from_env({"MODEL_BUCKET": "m", "OUTPUT_BUCKET": "o", **env})
    assert (settings.include_input, settings.timestamp, settings.ort_threads,
            settings.model_key) == expected


def test_every_record_is_processed_and_a_bad_one_fails_the_invocation(handler, s3, context):
    good = upload(s3, "good.csv", csv_bytes(make_rows(3)))
    bad = upload(s3, "bad.csv", b"")
    event = {"Records": bad["Records"] + good["Records"]}

    with pytest.raises(handler.BadInputError, match="empty"):
        handler.lambda_handler(event, context)

    assert keys(s3, OUTPUT_BUCKET) == ["errors/bad.csv.json", "predictions.csv"]


def test_output_key_and_error_key(handler):
    from datetime import datetime, timezone

    now = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=timezone.utc)
    assert handler.output_key("in/batch 1.csv", False, now) == "predictions.csv"
    assert (handler.output_key("in/batch 1.csv", True, now)
            == "batch 1_predictions_20260304T050607891011Z.csv")
    assert handler.error_key("in/batch 1.csv") == "errors/batch 1.csv.json"


COURSE = Path(__file__).resolve().parents[2] / "build" / "course"


@pytest.mark.skipif(not (COURSE / "model.onnx").exists(), reason="course not built")
def test_the_course_model_scores_the_course_batch(handler, s3, context):
    import onnxruntime as ort

    s3.upload_file(str(COURSE / "model.onnx"), MODEL_BUCKET, "model.onnx")
    body = (COURSE / "input_batch.csv").read_bytes()
    event = upload(s3, "input_batch.csv", body)

    result = handler.lambda_handler(event, context)

    rows = read_csv(s3, OUTPUT_BUCKET, "predictions.csv")
    source = list(csv.DictReader(io.StringIO(body.decode())))
    assert result["records"][0]["rows"] == len(rows) == len(source)
    session = ort.InferenceSession(str(COURSE / "model.onnx"))
    fill = json.loads(session.get_modelmeta().custom_metadata_map["numeric_fill"])
    cols = {f: np.array([r[f] if f not in NUMERIC or r[f] else fill[f] for r in source],
                        dtype=object) for f in FEATURES}
    labels, positive = bare_predictions(session, cols)
    assert [r["prediction"] for r in rows] == labels
    np.testing.assert_allclose([float(r["probability"]) for r in rows], positive, atol=1.01e-6)


def test_the_function_log_shows_the_model_load_and_each_file_scored(handler, s3, context, capsys):
    # Lambda's runtime leaves the root logger at WARNING; the handler's INFO lines still reach
    # the function's log (the conftest installs the runtime's root handler on stdout).
    event = upload(s3, "input_batch.csv", csv_bytes(make_rows(5)))
    capsys.readouterr()

    handler.lambda_handler(event, context)

    log = capsys.readouterr().out.splitlines()
    assert logging.getLogger().level == logging.WARNING
    assert [ln.split("\t")[0] for ln in log] == ["[INFO]", "[INFO]"]
    assert log[0].endswith(f"loaded model s3://{MODEL_BUCKET}/model.onnx")
    assert f"s3://{INPUT_BUCKET}/input_batch.csv: 5 rows scored in " in log[1]
    assert log[1].endswith(f"-> s3://{OUTPUT_BUCKET}/predictions.csv")
