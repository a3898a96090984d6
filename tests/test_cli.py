"""The CLI in-process: plans without AWS, one-line errors, JSON output."""
import json

from backend.cli import main


def test_plan_prints_each_steps_code_and_calls_nothing(capsys, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens: a call would fail
    assert main(["lab", "run", "3", "--svc", "anna-123", "--plan", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)["plan"]
    assert [p["step"] for p in plan] == ["buckets", "policy", "role", "layer", "function", "trigger", "test"]
    assert "arn:aws:s3:::input-anna-123/*" in plan[1]["code"]


def test_unknown_exercise_is_a_one_line_error(capsys):
    assert main(["lab", "check", "9", "--svc", "anna-123"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: No exercise 9: available [1, 2, 3, 4, 5]"]


def test_bad_record_json_names_the_problem(capsys):
    assert main(["predict", "--svc", "anna-123", "--record", "{age: 39"]) == 1
    assert "--record is not valid JSON" in capsys.readouterr().err


def test_seed_class_refuses_a_real_account(capsys, monkeypatch):
    assert main(["monitor", "seed-class", "--aws", "--region", "eu-central-1"]) == 1
    assert "never runs against a real account" in capsys.readouterr().err
