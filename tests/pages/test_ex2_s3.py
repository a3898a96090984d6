STEPS = ["region", "download", "bucket", "upload"]


def test_clicking_every_step_makes_the_checks_pass(sandbox_settings, page_app, texts):
    at = page_app("pages/ex2_s3.py")
    for step in STEPS:
        at.button(key=f"ex2_{step}_run").click().run()
        assert not at.exception, step
    shown = texts(at)
    assert f"Created bucket data-{sandbox_settings.svc}" in shown
    assert "Uploaded input_batch.csv" in shown
    at.button(key="ex2_checks_run").click().run()
    assert not at.exception
    assert "4 of 4 checks pass" in at.get("progress")[0].proto.text


def test_second_click_says_nothing_to_do(sandbox_settings, page_app, texts):
    at = page_app("pages/ex2_s3.py")
    for step in ("download", "bucket"):
        at.button(key=f"ex2_{step}_run").click().run()
    at.button(key="ex2_bucket_run").click().run()
    assert "already exists and is yours: nothing to do" in texts(at)


def test_upload_before_download_explains_the_order(sandbox_settings, page_app):
    at = page_app("pages/ex2_s3.py")
    at.button(key="ex2_upload_run").click().run()
    assert not at.exception
    assert any("run the download step first" in e.value for e in at.error)


def test_checks_fail_with_hints_before_any_step(sandbox_settings, page_app):
    at = page_app("pages/ex2_s3.py")
    at.button(key="ex2_checks_run").click().run()
    assert not at.exception
    assert any("Hint:" in e.value for e in at.error)


def test_s3_browser_previews_the_uploaded_csv(sandbox_settings, page_app):
    at = page_app("pages/ex2_s3.py")
    for step in STEPS:
        at.button(key=f"ex2_{step}_run").click().run()
    at.selectbox(key="ex2_browser_bucket").set_value(f"data-{sandbox_settings.svc}").run()
    assert not at.exception
    assert "input_batch.csv" in at.selectbox(key="ex2_browser_object").options
    assert any("Preview" in c.value for c in at.caption)
