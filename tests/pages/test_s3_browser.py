from backend.config import COURSE_BUCKET


def test_lists_buckets_and_objects(sandbox_settings, page_app):
    at = page_app("pages/s3_browser.py")
    assert COURSE_BUCKET in at.selectbox(key="browser_bucket").options
    at.selectbox(key="browser_bucket").set_value(COURSE_BUCKET).run()
    assert "model.onnx" in at.selectbox(key="browser_object").options
    at.button(key="browser_prepare").click().run()
    assert not at.exception
