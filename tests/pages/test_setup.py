from backend.settings import load_settings


def test_setup_shows_the_connection_to_the_sandbox(sandbox_settings, page_app, texts):
    at = page_app("pages/setup.py")
    assert "Connected to sandbox" in texts(at)
    assert at.text_input(key="setup_svc").value == sandbox_settings.svc


def test_invalid_service_name_states_the_rule(sandbox_settings, page_app):
    at = page_app("pages/setup.py")
    at.text_input(key="setup_svc").set_value("Bad_Name")
    at.button(key="setup_save").click().run()
    assert not at.exception
    assert any("lowercase letters, digits and hyphens" in e.value for e in at.error)
    assert load_settings().svc == sandbox_settings.svc  # nothing saved


def test_saving_a_valid_name_persists_it(sandbox_settings, page_app):
    at = page_app("pages/setup.py")
    at.text_input(key="setup_svc").set_value("mario-rossi-7")
    at.button(key="setup_save").click().run()
    assert not at.exception
    assert load_settings().svc == "mario-rossi-7"
    assert any("Saved" in s.value for s in at.success)


def test_a_stopped_sandbox_is_explained_with_a_start_button(monkeypatch, page_app):
    from backend.settings import LabSettings, save_settings

    save_settings(LabSettings(kind="sandbox", endpoint_url="http://127.0.0.1:9", svc="anna-123"))
    at = page_app("pages/setup.py")
    assert any("not running" in e.value for e in at.error)
    assert at.button(key="setup_start_sandbox") is not None


def test_aws_mode_with_an_unknown_profile_explains_it(page_app):
    from backend.settings import LabSettings, save_settings

    save_settings(LabSettings(kind="aws", profile="nope", region="eu-central-1", svc="anna-123"))
    at = page_app("pages/setup.py")
    assert any("list-profiles" in e.value for e in at.error)


def test_sandbox_expander_gives_the_shell_its_export_line(sandbox_settings, page_app):
    from backend.aws import Aws

    at = page_app("pages/setup.py")
    assert [e.label for e in at.expander] == ["Use the sandbox from your own shell"]
    line = Aws(sandbox_settings.target()).shell_exports()
    assert line.startswith(f"export AWS_ENDPOINT_URL={sandbox_settings.endpoint_url} AWS_ACCESS_KEY_ID=AKIA")
    assert any(line in c.value for c in at.code)
