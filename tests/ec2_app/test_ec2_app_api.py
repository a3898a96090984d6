"""The exercise-4 API through its HTTP interface, lifespan included (STYLE rule 14)."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from ec2_app.app import ADULT_CATEGORIES, FEATURES, SAMPLE_RECORD

# Values no Adult column holds: they must be scored, not rejected.
UNKNOWN = {
    "work_class": "Astronaut-gov", "education": "PhD", "marital_status": "Married",
    "occupation": "Professional", "relationship": "Partner", "race": "?", "sex": "Nonbinary",
    "native_country": "Atlantis",
}


def record(**changes):
    return {**SAMPLE_RECORD, **changes}


def sklearn_p_over_50k(trained, rec):
    pipe, x = trained
    frame = pd.DataFrame([rec])[list(x.columns)].astype(x.dtypes.to_dict())
    classes = list(pipe.classes_)
    return pipe.predict_proba(frame)[0, classes.index(">50K")]


def errors(response):
    assert response.status_code == 422, response.text
    return response.json()["detail"]


def test_health_names_the_model_version(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "model_version": "provisional-1"}


def test_predict_scores_the_lab_sample_record(client, trained):
    response = client.post("/predict", json=SAMPLE_RECORD)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"label", "probability", "model_version"}
    assert body["model_version"] == "provisional-1"
    # Column 1 of `probabilities` is P(>50K): the same number sklearn gives for the record.
    assert body["probability"] == pytest.approx(sklearn_p_over_50k(trained, SAMPLE_RECORD), abs=1e-4)
    assert body["label"] == (">50K" if body["probability"] >= 0.5 else "<=50K")


def test_predict_takes_the_handouts_whole_floats(client):
    # The original handout sends "capital_gain": 0.0 and "hours_per_week": 28.0.
    response = client.post("/predict", json=record(capital_gain=0.0, capital_loss=0.0, hours_per_week=28.0))
    assert response.status_code == 200
    assert response.json() == client.post("/predict", json=SAMPLE_RECORD).json()


@pytest.mark.parametrize(
    ("field", "value", "error_type"),
    [
        # wrong type
        ("age", "abc", "int_type"),
        ("age", "39", "int_type"),
        ("age", True, "int_type"),
        ("age", None, "int_type"),
        ("age", 39.5, "int_from_float"),
        ("hours_per_week", [40], "int_type"),
        ("work_class", 5, "string_type"),
        ("native_country", {"name": "Italy"}, "string_type"),
        # out of range
        ("age", 16, "greater_than_equal"),
        ("age", 101, "less_than_equal"),
        ("hours_per_week", 0, "greater_than_equal"),
        ("hours_per_week", 100, "less_than_equal"),
        ("capital_gain", -1, "greater_than_equal"),
        ("capital_gain", 100_000, "less_than_equal"),
        ("capital_loss", -5, "greater_than_equal"),
        ("capital_loss", 100_000, "less_than_equal"),
        ("education", "x" * 65, "string_too_long"),
    ],
)
def test_invalid_field_is_a_422_naming_it(client, field, value, error_type):
    (error,) = errors(client.post("/predict", json=record(**{field: value})))
    assert error["loc"] == ["body", field]
    assert error["type"] == error_type


@pytest.mark.parametrize("field", FEATURES)
def test_missing_field_is_a_422_naming_it(client, field):
    rec = record()
    del rec[field]
    (error,) = errors(client.post("/predict", json=rec))
    assert (error["loc"], error["type"]) == (["body", field], "missing")


def test_extra_field_is_rejected_by_name(client):
    # A misspelt field ("workclass") would otherwise be silently dropped.
    rec = record(workclass="Private")
    (error,) = errors(client.post("/predict", json=rec))
    assert (error["loc"], error["type"]) == (["body", "workclass"], "extra_forbidden")


def test_several_bad_fields_are_all_reported(client):
    detail = errors(client.post("/predict", json={**record(age="x", sex=1), "colour": "red"}))
    assert sorted(tuple(e["loc"]) for e in detail) == [("body", "age"), ("body", "colour"), ("body", "sex")]


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_are_a_422_not_a_500(client, raw):
    body = json.dumps(SAMPLE_RECORD).replace('"age": 39', f'"age": {raw}')
    (error,) = errors(client.post("/predict", content=body, headers={"content-type": "application/json"}))
    assert error["loc"] == ["body", "age"]


def test_lone_surrogate_is_a_422_not_a_500(client):
    body = json.dumps(record(occupation="\ud800"))  # JSON allows the escape; UTF-8 cannot hold it
    (error,) = errors(client.post("/predict", content=body, headers={"content-type": "application/json"}))
    assert error["loc"] == ["body", "occupation"]


def test_invalid_json_is_a_422(client):
    (error,) = errors(client.post("/predict", content=b"{not json", headers={"content-type": "application/json"}))
    assert error["type"] == "json_invalid"


def test_unknown_categories_are_scored(client, trained):
    rec = record(**UNKNOWN)
    response = client.post("/predict", json=rec)
    assert response.status_code == 200
    assert response.json()["probability"] == pytest.approx(sklearn_p_over_50k(trained, rec), abs=1e-4)


def test_missing_categories_are_scored_like_the_course_csvs(client):
    # input_batch.csv leaves some work_class/occupation empty: "" and null both mean missing.
    empty = client.post("/predict", json=record(work_class="", occupation=""))
    null = client.post("/predict", json=record(work_class=None, occupation=None))
    assert empty.status_code == null.status_code == 200
    assert empty.json() == null.json()
    batch = client.post("/predict/batch", json={"records": [record(), record(work_class="", occupation="")]})
    assert batch.status_code == 200 and batch.json()[1] == empty.json()


def test_batch_answers_in_request_order(client):
    records = [record(), record(age=60, capital_gain=15_024), record(**UNKNOWN), record(age=17, hours_per_week=10)]
    response = client.post("/predict/batch", json={"records": records})
    assert response.status_code == 200
    assert response.json() == [client.post("/predict", json=r).json() for r in records]


def test_batch_at_the_limit_is_scored(client):
    response = client.post("/predict/batch", json={"records": [SAMPLE_RECORD] * 1000})
    assert response.status_code == 200
    assert len(response.json()) == 1000


@pytest.mark.parametrize(("count", "error_type"), [(1001, "too_long"), (0, "too_short")])
def test_batch_outside_the_limits_is_a_422(client, count, error_type):
    (error,) = errors(client.post("/predict/batch", json={"records": [SAMPLE_RECORD] * count}))
    assert (error["loc"], error["type"]) == (["body", "records"], error_type)


def test_batch_names_the_bad_record_and_field(client):
    (error,) = errors(client.post("/predict/batch", json={"records": [record(), record(age=5)]}))
    assert error["loc"] == ["body", "records", 1, "age"]


def test_openapi_documents_example_categories_and_limit(client):
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    income = schemas["IncomeRecord"]
    # /docs "Try it out" starts from LAB.md's corrected record.
    assert income["examples"] == [SAMPLE_RECORD]
    assert income["additionalProperties"] is False
    for feature, known in ADULT_CATEGORIES.items():
        prop = income["properties"][feature]
        assert "enum" not in prop  # unknown categories are scored, not rejected
        assert sorted(prop["examples"]) == sorted(known)
        assert all(value in prop["description"] for value in known)
    assert income["properties"]["age"] == {**income["properties"]["age"], "minimum": 17, "maximum": 100}
    assert schemas["BatchRequest"]["properties"]["records"]["maxItems"] == 1000
    assert set(spec["paths"]) == {"/health", "/predict", "/predict/batch"}


def test_docs_page_and_root_redirect(client):
    assert client.get("/docs").status_code == 200
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/docs"
