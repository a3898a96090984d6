from backend.config import COURSE_FILES


def test_shows_the_files_and_the_models_metrics(sandbox_settings, page_app):
    at = page_app("pages/course_files.py")
    assert list(at.dataframe[0].value["file"]) == list(COURSE_FILES)
    labels = {m.label: m.value for m in at.metric}
    assert float(labels["Test accuracy"]) >= 0.85


def test_publish_puts_the_files_in_a_bucket(sandbox_settings, page_app, live_sandbox):
    at = page_app("pages/course_files.py")
    at.text_input(key="course_bucket").set_value("course-copy-1")
    at.button(key="course_publish").click().run()
    assert not at.exception
    keys = {o["Key"] for o in live_sandbox.client("s3").list_objects_v2(Bucket="course-copy-1")["Contents"]}
    assert keys == set(COURSE_FILES)
