"""Comparing targets: disagreement is found per record; unavailable targets say which exercise deploys them."""
import pytest

from backend.artifacts import SAMPLE_RECORD
from backend.errors import LabError
from backend.lab import LabContext
from backend.predict import PredictResult, compare, predict, target_states
from backend.prediction import Prediction


def result(target, *pairs):
    return PredictResult(target, [Prediction(label, p) for label, p in pairs], 0.01)


def test_agreeing_targets_have_no_mismatch():
    a = result("local", (">50K", 0.9), ("<=50K", 0.1))
    b = result("lambda", (">50K", 0.900001), ("<=50K", 0.1))
    assert compare([a, b]) == []


def test_a_different_label_or_probability_is_flagged_by_row():
    a = result("local", (">50K", 0.9), ("<=50K", 0.1), ("<=50K", 0.2))
    b = result("ec2", (">50K", 0.9), (">50K", 0.6), ("<=50K", 0.25))
    assert compare([a, b]) == [1, 2]


def test_local_model_scores_the_sample_record(moto_aws):
    ctx = LabContext(moto_aws, "anna-123")
    answer = predict(ctx, "local", SAMPLE_RECORD)
    [p] = answer.predictions
    assert p.label in (">50K", "<=50K") and 0 <= p.probability <= 1
    assert (p.label == ">50K") == (p.probability >= 0.5)


def test_unknown_target_is_named(moto_aws):
    with pytest.raises(LabError, match="choose one of local, lambda, ec2, sagemaker"):
        predict(LabContext(moto_aws, "anna-123"), "gcp", SAMPLE_RECORD)


def test_target_states_before_any_deployment(moto_aws):
    states = {s.target: s for s in target_states(LabContext(moto_aws, "anna-123", {"my_cidr": "203.0.113.7/32"}))}
    assert states["local"].available
    assert not states["lambda"].available and "exercise 3" in states["lambda"].reason
    assert not states["ec2"].available and "exercise 4" in states["ec2"].reason
    assert not states["sagemaker"].available and "exercise 5" in states["sagemaker"].reason


def test_a_starting_instance_or_a_creating_endpoint_is_changing(moto_aws, monkeypatch):
    """The playground looks again while a target is on its way (and stops once it settles)."""
    from backend import predict as predict_module
    from backend.exercises import ex4_ec2, ex5_sagemaker
    from backend.lab import LabContext

    ctx = LabContext(moto_aws, "anna-1a2b3c")
    monkeypatch.setattr(ex4_ec2, "instance_endpoint", lambda ctx: None)
    monkeypatch.setattr(ex4_ec2, "lab_instance", lambda ctx: type("I", (), {"state": "pending"})())
    monkeypatch.setattr(ex5_sagemaker, "endpoint_status", lambda ctx: "Creating")
    states = {s.target: s for s in predict_module.target_states(ctx)}
    assert states["ec2"].changing and not states["ec2"].available and "pending" in states["ec2"].reason
    assert states["sagemaker"].changing and "Creating" in states["sagemaker"].reason
    monkeypatch.setattr(ex5_sagemaker, "endpoint_status", lambda ctx: None)
    assert not {s.target: s for s in predict_module.target_states(ctx)}["sagemaker"].changing
