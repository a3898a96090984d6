"""Input validation (records and CSV) names where the problem is; the local model scores valid input."""
import pytest

from backend.artifacts import FEATURES, SAMPLE_RECORD
from backend.local_model import BadInput, records_from_csv, validate_records
from backend.predict import records_to_csv


def csv_of(*rows, header=",".join(FEATURES)):
    return ("\n".join([header, *rows]) + "\n").encode()


SAMPLE_ROW = ",".join(str(SAMPLE_RECORD[f]) for f in FEATURES)


def test_sample_record_is_valid_and_typed():
    [record] = validate_records(dict(SAMPLE_RECORD, age="39"))
    assert record["age"] == 39 and record["education"] == "Masters"


@pytest.mark.reliability("bad input")
@pytest.mark.parametrize("change, words", [
    ({"age": "old"}, "field 'age': expected a whole number"),
    ({"hours_per_week": 28.5}, "field 'hours_per_week'"),
    ({"sex": 1}, "field 'sex': expected text"),
])
def test_bad_fields_are_named(change, words):
    with pytest.raises(BadInput, match=words):
        validate_records([SAMPLE_RECORD, dict(SAMPLE_RECORD, **change)])


def test_missing_fields_are_listed():
    record = {k: v for k, v in SAMPLE_RECORD.items() if k not in ("age", "sex")}
    with pytest.raises(BadInput, match="missing field\\(s\\) age, sex"):
        validate_records(record)


def test_missing_values_and_unknown_categories_are_accepted():
    [record] = validate_records(dict(SAMPLE_RECORD, age=None, occupation="Astronaut"))
    assert record["age"] is None and record["occupation"] == "Astronaut"


@pytest.mark.parametrize("data, words", [
    (b"", "empty"),
    (csv_of(), "a header but no rows"),
    (csv_of(SAMPLE_ROW, header="age,education"), "missing column"),
    (csv_of(SAMPLE_ROW, "39,Private"), "line 3: 2 fields"),
    (csv_of(SAMPLE_ROW.replace("39", "x39", 1)), "line 2, field 'age'"),
    (b"\xff\xfe\x00bad", "not UTF-8"),
])
def test_bad_csv_says_where(data, words):
    with pytest.raises(BadInput, match=words):
        records_from_csv(data, "batch.csv")


def test_csv_round_trip_keeps_columns_in_any_order_and_ignores_extras():
    header = ",".join(["extra", *reversed(FEATURES)])
    row = ",".join(["zzz", *(str(SAMPLE_RECORD[f]) for f in reversed(FEATURES))])
    [record] = records_from_csv(csv_of(row, header=header))
    assert record == validate_records(SAMPLE_RECORD)[0]
    assert records_from_csv(records_to_csv([record])) == [record]
