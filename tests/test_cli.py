"""The CLI in-process: plans without AWS, one-line errors, JSON output."""
import json

import pytest

from backend.cli import main


def test_a_stopped_sandbox_is_exit_3_in_one_line(capsys, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens
    assert main(["lab", "run", "3", "--svc", "anna-123", "--plan", "--json"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not running" in err[0]


def test_unknown_exercise_is_a_one_line_usage_error(capsys):
    assert main(["lab", "check", "9", "--svc", "anna-123"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: No exercise 9: available [1, 2, 3, 4, 5]"]


def test_unknown_option_and_bad_value_are_usage_errors(capsys):
    assert main(["lab", "run", "3", "--svc", "anna-123", "--option", "colour=blue", "--plan"]) == 2
    assert "no option 'colour'" in capsys.readouterr().err and True
    assert main(["lab", "run", "3", "--svc", "anna-123", "--option", "use_lab_role=maybe", "--plan"]) == 2
    assert "'maybe' is not true/false" in capsys.readouterr().err


def test_bad_record_json_names_the_problem(capsys):
    assert main(["predict", "--svc", "anna-123", "--record", "{age: 39"]) == 2
    assert "--record is not valid JSON" in capsys.readouterr().err


def test_seed_class_refuses_a_real_account(capsys, monkeypatch):
    assert main(["monitor", "seed-class", "--aws", "--region", "eu-central-1"]) == 2
    assert "never runs against a real account" in capsys.readouterr().err


def test_no_service_name_anywhere_is_a_usage_error(capsys):
    assert main(["lab", "check", "2"]) == 2
    assert "pass --svc NAME or save one" in capsys.readouterr().err


def test_svc_defaults_to_the_name_saved_in_setup(capsys, moto_aws, course_bucket, monkeypatch):
    from backend.settings import LabSettings, save_settings

    save_settings(LabSettings(kind="aws", svc="saved-7f3a2b"))
    assert main(["lab", "check", "2", "--aws", "--region", "eu-central-1", "--json"]) == 1  # nothing done yet
    assert json.loads(capsys.readouterr().out)["svc"] == "saved-7f3a2b"


def test_json_is_accepted_anywhere_and_version_prints(capsys):
    assert main(["--json", "lab", "check", "9", "--svc", "anna-123"]) == 2
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("mlops-lab ")


def test_help_documents_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "3  AWS or sandbox error" in out and "1  checks failed" in out


def test_damaged_settings_are_reported_and_kept_never_replaced(capsys, tmp_path):
    from backend.settings import settings_path

    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"svc": "anna-1a2b3c", "kind": ')  # cut short
    assert main(["lab", "check", "2"]) == 3
    assert "could not be read" in capsys.readouterr().err
    assert path.read_text() == '{"svc": "anna-1a2b3c", "kind": '  # left as it was
    assert (path.parent / "settings.json.damaged").read_text() == path.read_text()
