
def test_verify_button_shows_the_identity(sandbox_settings, page_app, texts):
    at = page_app("pages/ex1_credentials.py")
    assert "Exercise 1" in at.title[0].value
    at.button(key="ex1_verify_run").click().run()
    assert not at.exception
    assert "Credentials work: account 123456789012" in texts(at)


def test_checks_pass_in_the_sandbox(sandbox_settings, page_app):
    at = page_app("pages/ex1_credentials.py")
    at.button(key="ex1_checks_run").click().run()
    assert not at.exception
    assert len(at.success) >= 2 and not at.error


def test_unreachable_target_stops_the_page_with_a_message(page_app):
    from backend.settings import LabSettings, save_settings

    save_settings(LabSettings(kind="sandbox", endpoint_url="http://127.0.0.1:9", svc="anna-123"))
    at = page_app("pages/ex1_credentials.py")
    assert any("not running" in e.value for e in at.error)
    assert not at.button  # no step can be clicked
