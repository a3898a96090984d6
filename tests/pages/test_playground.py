"""The playground with the local model (always there): record, presets, CSV with charts, target states;
results only while their targets exist."""
from unittest import mock

import streamlit as st

from backend.predict import PredictResult, TargetState
from backend.prediction import Prediction


def test_sample_record_on_the_local_model(sandbox_settings, page_app):
    at = page_app("pages/playground.py")
    assert at.checkbox(key="play_target_local").value is True
    assert at.checkbox(key="play_target_lambda").disabled  # nothing deployed yet
    submit = [b for b in at.button if "Predict on the chosen targets" in b.label][0]
    submit.click().run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table.columns[:2]) == ["label", "probability"]  # results first
    assert list(table["target"]) == ["Local model (onnxruntime)"]
    assert table["label"][0] in ("<=50K", ">50K") and 0 <= table["probability"][0] <= 1


def test_random_row_replaces_the_record(sandbox_settings, page_app):
    at = page_app("pages/playground.py")
    before = at.session_state["play_record"]
    for _ in range(5):
        at.button(key="play_random").click().run()
        if at.session_state["play_record"] != before:
            break
    assert not at.exception
    assert at.session_state["play_record"] != before


def test_course_csv_gives_charts_confusion_matrix_and_download(sandbox_settings, page_app):
    at = page_app("pages/playground.py")
    at.button(key="play_csv_course").click().run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 4  # histogram, share by feature, confusion matrix, ROC
    assert at.get("download_button")
    table = predictions_table(at)
    assert list(table.columns[:2]) == ["label", "probability"]
    assert "age" in table.columns[2:]


def test_unavailable_targets_say_which_exercise_deploys_them(sandbox_settings, page_app):
    at = page_app("pages/playground.py")
    captions = " ".join(c.value for c in at.caption)
    assert "Deploy it in exercise 3." in captions


def predictions_table(at):
    """The CSV tab's predictions (the table with the inputs), or None."""
    return next((d.value for d in at.dataframe if "age" in d.value.columns), None)


def record_table(at):
    """The record tab's table (one row per target), or None."""
    return next((d.value for d in at.dataframe if "latency (ms)" in d.value.columns), None)


LAMBDA_UP = [TargetState("local", True, "model abc"), TargetState("lambda", True, "batch-lambda-x"),
             TargetState("ec2", False, "Deploy it in exercise 4."),
             TargetState("sagemaker", False, "Endpoint not deployed: deploy it in exercise 5.")]
LAMBDA_GONE = [LAMBDA_UP[0], TargetState("lambda", False, "Deploy it in exercise 3."), *LAMBDA_UP[2:]]


def fake_predict(ctx, target, records, on_progress=None):
    return PredictResult(target, [Prediction(">50K", 0.75)] * len(records), 0.01, "fake")


def test_agreement_counts_only_targets_that_still_exist(sandbox_settings, page_app):
    with mock.patch("backend.predict.target_states", return_value=LAMBDA_UP), \
            mock.patch("backend.predict.predict", side_effect=fake_predict):
        at = page_app("pages/playground.py")
        [b for b in at.button if "Predict on the chosen targets" in b.label][0].click().run()
        assert not at.exception
        assert any("All 2 targets agree" in s.value for s in at.success)
        reloaded = page_app("pages/playground.py")  # a new browser session: the results are still true
        assert any("All 2 targets agree" in s.value for s in reloaded.success)
    st.cache_data.clear()  # as a few seconds later: the targets are read again
    with mock.patch("backend.predict.target_states", return_value=LAMBDA_GONE):
        at.run()  # the function was deleted (e.g. by exercise 3's clean-up)
        assert not at.exception
        assert not any("agree" in s.value for s in at.success)
        assert list(record_table(at)["target"]) == ["Local model (onnxruntime)"]
        assert any("Lambda (exercise 3)" in i.value and "dropped" in i.value for i in at.info)
        reloaded = page_app("pages/playground.py")
        assert not any("agree" in s.value for s in reloaded.success)
        assert list(record_table(reloaded)["target"]) == ["Local model (onnxruntime)"]


def test_results_of_a_replaced_target_are_dropped(sandbox_settings, page_app):
    with mock.patch("backend.predict.target_states", return_value=LAMBDA_UP), \
            mock.patch("backend.predict.predict", side_effect=fake_predict):
        at = page_app("pages/playground.py")
        at.checkbox(key="play_target_local").uncheck().run()
        at.button(key="play_csv_course").click().run()
        assert predictions_table(at) is not None
    st.cache_data.clear()
    replaced = [LAMBDA_UP[0], TargetState("lambda", True, "another-function"), *LAMBDA_UP[2:]]
    with mock.patch("backend.predict.target_states", return_value=replaced):
        at.run()
    assert not at.exception
    assert not at.get("plotly_chart") and predictions_table(at) is None
    assert any("dropped" in i.value for i in at.info)
