"""Exercise 5's checks: pure functions of its State (the class overview judges its own States with them)."""
from __future__ import annotations

from ...lab import UNSEEN, Check, CheckResult, unseen
from .state import SAGEMAKER_PRINCIPAL, State

MISSING_ENDPOINT_HINT = (
    "Deploy it (step 4). The handout's `mlflow.sagemaker.deploy(...)` no longer exists: MLflow 2+ deploys with "
    "`mlflow.deployments.get_deploy_client(\"sagemaker:/<region>\").create_deployment(...)`.")
DATAFRAME_SPLIT_HINT = ("Send ContentType application/json with "
                        "{\"dataframe_split\": {\"columns\": […], \"data\": [[…]]}}.")


def image(state: State) -> CheckResult:
    if state.image is UNSEEN:
        return unseen("image", "MLflow's serving image is in ECR")
    found, repository = state.image, state.names.serving_repository
    title = f"MLflow's serving image {repository}:{found.tag} is in ECR"
    if found.repository_uri is None:
        hint = ("Run step 1 (the sandbox records the push)." if found.sandbox else
                "Push it once per account with `mlflow sagemaker build-and-push-container` (needs Docker).")
        return CheckResult("image", title, False, f"No ECR repository {repository}.", hint)
    if found.digest is None:
        return CheckResult("image", title, False, f"{repository} holds {', '.join(found.tags) or 'no images'}, "
                           f"not {found.tag}.",
                           f"MLflow {found.tag} deploys into the image tagged {found.tag}: push it with the same MLflow "
                           "version (`mlflow sagemaker build-and-push-container`).")
    return CheckResult("image", title, True, f"{repository}:{found.tag} ({found.digest[:19]}…).")


def role(state: State) -> CheckResult:
    title = "SageMaker may assume the execution role"
    if state.role is None and state.uses_lab_role is UNSEEN:
        return unseen("role", title)
    found, name = state.execution_role, state.execution_role_name
    if found is None:
        return CheckResult("role", title, False, f"No role {name}.", "Create it (step 2).")
    if not found.trusted:
        # Exercise 3's role trusts only Lambda: an endpoint can never start with it.
        return CheckResult("role", title, False, f"{name} does not trust {SAGEMAKER_PRINCIPAL}.",
                           f"Its trust policy must name {SAGEMAKER_PRINCIPAL} (exercise 3's role trusts only Lambda): "
                           "step 2 creates the right one.", broken=True)
    policy = state.names.sagemaker_policy
    if state.uses_lab_role is False and policy not in found.attached:
        return CheckResult("role", title, False, f"{policy} is not attached.",
                           "Without it SageMaker cannot read the model artifact or pull the image (step 2).")
    return CheckResult("role", title, True, f"{name} trusts {SAGEMAKER_PRINCIPAL}.")


def endpoint(state: State) -> CheckResult:
    name = state.names.endpoint
    title = f"Endpoint {name} is InService"
    found = state.endpoint
    if found is None:
        return CheckResult("endpoint", title, False, "No such endpoint.", MISSING_ENDPOINT_HINT)
    if found.status == "Failed":
        return CheckResult("endpoint", title, False, f"Failed: {found.failure_reason or 'no reason given'}",
                           "Fix the cause, then deploy again (step 4 deletes the failed endpoint first).", broken=True)
    if found.status != "InService":
        return CheckResult("endpoint", title, False, f"{found.status}.", "Wait a few minutes and check again.")
    return CheckResult("endpoint", title, True,
                       f"InService on config {found.config}." if found.config else "InService.")


def invocation(state: State) -> CheckResult:
    title = "The endpoint answers a dataframe_split request like the local model"
    if state.endpoint is None or state.endpoint.status != "InService":
        return CheckResult("invocation", title, False, "The endpoint is not InService.", "Deploy it first (step 4).")
    if state.invocation is UNSEEN:
        return unseen("invocation", title)
    answer = state.invocation
    if answer is None or answer.prediction is None:
        error = answer.error if answer is not None else "No answer."
        hint = DATAFRAME_SPLIT_HINT if answer is None or answer.model_error else \
            "The endpoint answered, but not with MLflow's {\"predictions\": …}: deploy the course's MLflow model (step 4)."
        return CheckResult("invocation", title, False, error, hint)
    said = f"The sample record: {answer.prediction.label} (p(>50K) = {answer.prediction.probability:.3f})"
    if answer.agrees is False:
        return CheckResult("invocation", title, False,
                           f"{said}; the local model says {answer.local.label} "
                           f"(p(>50K) = {answer.local.probability:.3f}).",
                           "The endpoint serves another model than the course's: run steps 3 and 4 again "
                           "(step 4 replaces the model).")
    return CheckResult("invocation", title, True, said + (", as the local model." if answer.agrees else "."))


CHECKS = (Check("image", "Image", image), Check("role", "Role", role),
          Check("endpoint", "Endpoint", endpoint), Check("invocation", "Invocation", invocation))
