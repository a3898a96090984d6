from unittest import mock


PREDICTIONS = (b"prediction,probability,age,education\n"
               b">50K,0.91,45,Masters\n<=50K,0.12,23,HS-grad\n<=50K,0.30,31,Bachelors\n")


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
    with mock.patch("backend.exercises.ex3_lambda.run_batch", return_value=result) as run_batch:
        at = page_app("pages/ex3_lambda.py")
        at.button(key="ex3_run_course").click().run()
    assert not at.exception
    run_batch.assert_called_once()
    assert any("3 predictions" in s.value for s in at.success)
    assert len(at.get("plotly_chart")) == 2
    at.selectbox(key="ex3_feature").set_value("age").run()
    assert not at.exception


def test_an_error_report_is_shown(sandbox_settings, page_app):
    report = b'{"file": "bad.csv", "row": 3, "column": "age", "message": "row 3, column age: not a number"}'
    result = {"status": "error", "key": "errors/bad.csv.json", "bucket": "output-x", "input_key": "bad.csv",
              "body": report}
    with mock.patch("backend.exercises.ex3_lambda.run_batch", return_value=result):
        at = page_app("pages/ex3_lambda.py")
        at.button(key="ex3_run_course").click().run()
    assert not at.exception
    assert any("column age" in e.value for e in at.error)


def test_log_viewer_is_empty_before_any_run(sandbox_settings, page_app):
    at = page_app("pages/ex3_lambda.py")
    assert any("has not run" in i.value for i in at.info)


def test_the_deployed_handler_is_shown(sandbox_settings, page_app):
    at = page_app("pages/ex3_lambda.py")
    assert any("def lambda_handler(" in c.value for c in at.code)
