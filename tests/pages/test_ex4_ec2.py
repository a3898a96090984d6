from unittest import mock

from backend.exercises.ex4_ec2 import ApiCall

PAGE = "pages/ex4_ec2.py"
ANSWER = {"label": ">50K", "probability": 0.73, "model_version": "test"}


def test_page_renders_every_step_with_its_code(sandbox_settings, page_app):
    at = page_app(PAGE)
    for step in ("key_pair", "security_group", "bundle", "instance", "health", "predict"):
        assert at.button(key=f"ex4_{step}_run") is not None
    codes = "\n".join(c.value for c in at.code)
    assert f"ec2-{sandbox_settings.svc}-key" in codes and "/aws/service/canonical/ubuntu/server/24.04" in codes
    assert "chmod 400" in codes  # the manual path, corrected
    assert any("No instance yet" in i.value and "per hour" in i.value for i in at.info)


def test_key_pair_step_creates_it_without_showing_the_key(sandbox_settings, page_app, texts):
    at = page_app(PAGE)
    at.button(key="ex4_key_pair_run").click().run()
    assert not at.exception
    shown = texts(at) + "\n".join(c.value for c in at.code)
    assert f"Created key pair ec2-{sandbox_settings.svc}-key" in shown
    assert "PRIVATE KEY-----" not in shown


def test_security_group_step_restricts_to_the_sandbox_caller(sandbox_settings, page_app, texts):
    at = page_app(PAGE)
    at.button(key="ex4_security_group_run").click().run()
    assert not at.exception
    assert "127.0.0.1/32" in texts(at)


def test_the_form_is_prefilled_and_sends_the_record(sandbox_settings, page_app):
    call = ApiCall("http://127.0.0.1:9/predict", 200, ANSWER, 12.5)
    with mock.patch("backend.exercises.ex4_ec2.instance_endpoint", return_value="http://127.0.0.1:9"), \
            mock.patch("backend.exercises.ex4_ec2.call_predict", return_value=call) as predict:
        at = page_app(PAGE)
        assert at.selectbox(key="ex4_f_marital_status").value == "Married-civ-spouse"
        assert at.number_input(key="ex4_f_age").value == 39
        at.number_input(key="ex4_f_age").set_value(52)
        at.selectbox(key="ex4_f_occupation").set_value("Exec-managerial")
        at.button[[b.label for b in at.button].index("Predict")].click().run()
    assert not at.exception
    sent = predict.call_args.args[1]
    assert sent["age"] == 52 and sent["occupation"] == "Exec-managerial" and sent["sex"] == "Female"
    assert any(">50K" in s.value and "12 ms" in s.value for s in at.success)
    assert any("/docs" in m.value for m in at.markdown)


def test_a_validation_error_is_shown(sandbox_settings, page_app):
    call = ApiCall("http://127.0.0.1:9/predict", 422, {"detail": [{"loc": ["body", "age"]}]}, 3.0)
    with mock.patch("backend.exercises.ex4_ec2.instance_endpoint", return_value="http://127.0.0.1:9"), \
            mock.patch("backend.exercises.ex4_ec2.call_predict", return_value=call):
        at = page_app(PAGE)
        at.button[[b.label for b in at.button].index("Predict")].click().run()
    assert not at.exception
    assert any("HTTP 422" in e.value for e in at.error)


def test_checks_fail_with_hints_before_anything_exists(sandbox_settings, page_app):
    at = page_app(PAGE)
    at.button(key="ex4_checks_run").click().run()
    assert not at.exception
    assert any("No key pair" in e.value and "Hint" in e.value for e in at.error)
