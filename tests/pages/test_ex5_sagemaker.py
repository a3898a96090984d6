from unittest import mock

from backend.exercises.ex5_sagemaker import QueryResult
from backend.prediction import Prediction

PAGE = "pages/ex5_sagemaker.py"
RECORD = {"age": 39, "work_class": "Local-gov", "education": "Masters", "marital_status": "Married-civ-spouse",
          "occupation": "Prof-specialty", "relationship": "Wife", "race": "White", "sex": "Female",
          "capital_gain": 0, "capital_loss": 0, "hours_per_week": 28, "native_country": "United-States"}
SUMMARY = {"status": "InService", "failure_reason": "", "config": "c", "instance_type": "ml.m5.large",
           "instance_count": 1, "created": None, "hourly_usd": 0.138}


def test_page_renders_every_step_with_its_code_and_the_price(sandbox_settings, page_app, texts):
    at = page_app(PAGE)
    for step in ("image", "role", "model", "deploy", "query"):
        assert at.button(key=f"ex5_{step}_run") is not None
    assert any("get_deploy_client" in c.value and f"income-prediction-{sandbox_settings.svc}" in c.value
               for c in at.code)
    assert "costs nothing" in texts(at) and "per hour" in texts(at)
    assert "is not deployed" in texts(at)
    assert "ex5_delete" not in [b.key for b in at.button]


def test_image_step_records_the_push_in_the_sandbox(sandbox_settings, page_app, texts):
    at = page_app(PAGE)
    at.button(key="ex5_image_run").click().run()
    assert not at.exception
    assert "Recorded the push of mlflow-pyfunc" in texts(at)


def test_a_running_endpoint_shows_its_status_and_can_be_deleted(sandbox_settings, page_app, texts):
    with mock.patch("backend.exercises.ex5_sagemaker.endpoint_summary", return_value=SUMMARY), \
            mock.patch("backend.exercises.ex5_sagemaker.delete_deployment", return_value=[]) as delete:
        at = page_app(PAGE)
        assert "is **InService** on 1 × ml.m5.large" in texts(at)
        at.button(key="ex5_delete").click().run()
        # destructive: it asks first, naming what goes and from which account, and deletes nothing yet
        warning = " ".join(w.value for w in at.warning)
        assert "Delete endpoint income-prediction-" in warning and "account" in warning
        delete.assert_not_called()
        at.button(key="ex5_delete_yes").click().run()
    assert not at.exception
    delete.assert_called_once()


def test_a_failed_endpoint_shows_the_reason(sandbox_settings, page_app):
    failed = {**SUMMARY, "status": "Failed", "failure_reason": "The image does not exist in ECR"}
    with mock.patch("backend.exercises.ex5_sagemaker.endpoint_summary", return_value=failed):
        at = page_app(PAGE)
    assert any("does not exist in ECR" in e.value for e in at.error)


def test_query_shows_both_predictions_side_by_side(sandbox_settings, page_app):
    result = QueryResult([RECORD], [Prediction(">50K", 0.72)], [Prediction(">50K", 0.72)], 0.05, [])
    rows = [{**RECORD, "income": ">50K"}, {**RECORD, "age": 50, "income": "<=50K"}]
    with mock.patch("backend.exercises.ex5_sagemaker.course_rows", return_value=rows), \
            mock.patch("backend.exercises.ex5_sagemaker.endpoint_summary", return_value=SUMMARY), \
            mock.patch("backend.exercises.ex5_sagemaker.query", return_value=result) as query:
        at = page_app(PAGE)
        at.multiselect(key="ex5_rows").set_value([0]).run()
        at.button(key="ex5_ask_run").click().run()
    assert not at.exception
    (records,) = query.call_args.args[1:]
    assert records == [RECORD]
    assert any("all the same as the local model" in s.value for s in at.success)
    table = at.dataframe[-1].value
    assert list(table.columns[:2]) == ["label", "probability"]  # the endpoint's answer first
    assert list(table["label"]) == [">50K"] and list(table["actual"]) == [">50K"]


def test_query_mismatch_is_a_warning(sandbox_settings, page_app):
    result = QueryResult([RECORD], [Prediction(">50K", 0.9)], [Prediction("<=50K", 0.2)], 0.05, [0])
    with mock.patch("backend.exercises.ex5_sagemaker.course_rows", return_value=[{**RECORD, "income": ">50K"}]), \
            mock.patch("backend.exercises.ex5_sagemaker.endpoint_summary", return_value=SUMMARY), \
            mock.patch("backend.exercises.ex5_sagemaker.query", return_value=result):
        at = page_app(PAGE)
        at.button(key="ex5_ask_run").click().run()
    assert any("differ from the local model" in w.value for w in at.warning)


def test_answers_of_an_endpoint_that_is_gone_are_not_shown(sandbox_settings, page_app):
    result = QueryResult([RECORD], [Prediction(">50K", 0.72)], [Prediction(">50K", 0.72)], 0.05, [])
    with mock.patch("backend.exercises.ex5_sagemaker.course_rows", return_value=[{**RECORD, "income": ">50K"}]), \
            mock.patch("backend.exercises.ex5_sagemaker.query", return_value=result):
        with mock.patch("backend.exercises.ex5_sagemaker.endpoint_summary", return_value=SUMMARY):
            at = page_app(PAGE)
            at.button(key="ex5_ask_run").click().run()
            assert any("all the same as the local model" in s.value for s in at.success)
        with mock.patch("backend.exercises.ex5_sagemaker.endpoint_summary", return_value=None):
            at.run()
    assert not at.exception
    assert not any("local model" in s.value for s in at.success)
    assert any("is not deployed" in c.value for c in at.caption)
