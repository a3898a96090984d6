"""The playground with the local model (always there): record, presets, CSV with charts, target states."""


def test_sample_record_on_the_local_model(sandbox_settings, page_app):
    at = page_app("pages/playground.py")
    assert at.checkbox(key="play_target_local").value is True
    assert at.checkbox(key="play_target_lambda").disabled  # nothing deployed yet
    submit = [b for b in at.button if "Predict on the chosen targets" in b.label][0]
    submit.click().run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["target"]) == ["Local model (onnxruntime)"]
    assert table["label"][0] in ("<=50K", ">50K") and 0 <= table["P(>50K)"][0] <= 1


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


def test_unavailable_targets_say_which_exercise_deploys_them(sandbox_settings, page_app):
    at = page_app("pages/playground.py")
    captions = " ".join(c.value for c in at.caption)
    assert "Deploy it in exercise 3." in captions
