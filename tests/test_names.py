import pytest

from backend.names import InvalidServiceName, LabNames, lab_tags, propose_svc, validate_svc


@pytest.mark.parametrize("svc", ["abc", "anna-1a2b3c", "a" * 40, "x9-y"])
def test_valid_service_names(svc):
    assert validate_svc(svc) == svc


@pytest.mark.parametrize("svc", ["ab", "a" * 41, "Anna", "anna_1", "-anna", "anna-", "an--na", "anna.x", ""])
def test_invalid_service_names_state_the_rule(svc):
    with pytest.raises(InvalidServiceName, match="lowercase letters, digits and hyphens"):
        validate_svc(svc)


def test_proposed_names_are_valid_and_unique():
    names = {propose_svc("Mario Rossi") for _ in range(20)}
    assert len(names) == 20
    assert all(n.startswith("mario-rossi-") and validate_svc(n) for n in names)


def test_resource_names_follow_the_lab():
    names = LabNames("anna")
    assert (names.model_bucket, names.input_bucket, names.output_bucket) == ("model-anna", "input-anna", "output-anna")
    assert names.lambda_policy == "batch-lambda-anna-policy"
    assert names.lambda_role == "batch-lambda-anna-role"
    assert names.lambda_layer == "batch-runtime-anna"
    assert names.endpoint == "income-prediction-anna"
    assert lab_tags("anna", 3) == {"lab:course": "mlops-aws", "lab:student": "anna", "lab:exercise": "3"}
