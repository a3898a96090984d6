"""Exercise 5's checks: pure functions of its State (the class overview judges its own States with them)."""
from __future__ import annotations

from ... import i18n
from ...i18n import N_, _
from ...lab import UNSEEN, Check, CheckResult, unseen
from .state import SAGEMAKER_PRINCIPAL, State

MISSING_ENDPOINT_HINT = N_(
    "Deploy it (step 4). The handout's `mlflow.sagemaker.deploy(...)` no longer exists: MLflow 2+ deploys with "
    "`mlflow.deployments.get_deploy_client(\"sagemaker:/<region>\").create_deployment(...)`.")
DATAFRAME_SPLIT_BODY = '{"dataframe_split": {"columns": […], "data": [[…]]}}'


def image(state: State) -> CheckResult:
    if state.image is UNSEEN:
        return unseen("image", _("MLflow's serving image is in ECR"))
    found, repository = state.image, state.names.serving_repository
    title = _("MLflow's serving image {image} is in ECR").format(image=f"{repository}:{found.tag}")
    if found.repository_uri is None:
        hint = (_("Run step 1 (the sandbox records the push).") if found.sandbox else
                _("Push it once per account with `mlflow sagemaker build-and-push-container` (needs Docker)."))
        return CheckResult("image", title, False, _("No ECR repository {repository}.").format(repository=repository),
                           hint)
    if found.digest is None:
        return CheckResult("image", title, False,
                           _("{repository} holds {tags}, not {tag}.").format(
                               repository=repository, tags=", ".join(found.tags) or _("no images"), tag=found.tag),
                           _("MLflow {tag} deploys into the image tagged {tag}: push it with the same MLflow "
                             "version (`mlflow sagemaker build-and-push-container`).").format(tag=found.tag))
    return CheckResult("image", title, True, f"{repository}:{found.tag} ({found.digest[:19]}…).")


def role(state: State) -> CheckResult:
    title = _("SageMaker may assume the execution role")
    if state.role is None and state.uses_lab_role is UNSEEN:
        return unseen("role", title)
    found, name = state.execution_role, state.execution_role_name
    if found is None:
        return CheckResult("role", title, False, _("No role {name}.").format(name=name), _("Create it (step 2)."))
    if not found.trusted:
        # Exercise 3's role trusts only Lambda: an endpoint can never start with it.
        return CheckResult("role", title, False,
                           _("{name} does not trust {principal}.").format(name=name, principal=SAGEMAKER_PRINCIPAL),
                           _("Its trust policy must name {principal} (exercise 3's role trusts only Lambda): "
                             "step 2 creates the right one.").format(principal=SAGEMAKER_PRINCIPAL), broken=True)
    policy = state.names.sagemaker_policy
    if state.uses_lab_role is False and policy not in found.attached:
        return CheckResult("role", title, False, _("{policy} is not attached.").format(policy=policy),
                           _("Without it SageMaker cannot read the model artifact or pull the image (step 2)."))
    return CheckResult("role", title, True,
                       _("{name} trusts {principal}.").format(name=name, principal=SAGEMAKER_PRINCIPAL))


def endpoint(state: State) -> CheckResult:
    name = state.names.endpoint
    title = _("Endpoint {name} is InService").format(name=name)
    found = state.endpoint
    if found is None:
        return CheckResult("endpoint", title, False, _("No such endpoint."), _(MISSING_ENDPOINT_HINT))
    if found.status == "Failed":
        return CheckResult("endpoint", title, False,
                           _("Failed: {reason}").format(reason=found.failure_reason or _("no reason given")),
                           _("Fix the cause, then deploy again (step 4 deletes the failed endpoint first)."),
                           broken=True)
    if found.status != "InService":
        return CheckResult("endpoint", title, False, f"{found.status}.", _("Wait a few minutes and check again."))
    return CheckResult("endpoint", title, True,
                       _("InService on config {config}.").format(config=found.config) if found.config
                       else _("InService."))


def invocation(state: State) -> CheckResult:
    title = _("The endpoint answers a dataframe_split request like the local model")
    if state.endpoint is None or state.endpoint.status != "InService":
        return CheckResult("invocation", title, False, _("The endpoint is not InService."),
                           _("Deploy it first (step 4)."))
    if state.invocation is UNSEEN:
        return unseen("invocation", title)
    answer = state.invocation
    if answer is None or answer.prediction is None:
        error = answer.error if answer is not None else _("No answer.")
        # JSON goes in as a value: braces in a catalog entry read as placeholders.
        hint = _("Send ContentType application/json with {body}.").format(body=DATAFRAME_SPLIT_BODY) \
            if answer is None or answer.model_error else \
            _("The endpoint answered, but not with MLflow's {answer}: deploy the course's MLflow model "
              "(step 4).").format(answer='{"predictions": …}')
        return CheckResult("invocation", title, False, error, hint)
    said = _("The sample record: {label} (p(>50K) = {probability})").format(
        label=answer.prediction.label, probability=i18n.number(answer.prediction.probability, 3))
    if answer.agrees is False:
        return CheckResult("invocation", title, False,
                           _("{said}; the local model says {label} (p(>50K) = {probability}).").format(
                               said=said, label=answer.local.label,
                               probability=i18n.number(answer.local.probability, 3)),
                           _("The endpoint serves another model than the course's: run steps 3 and 4 again "
                             "(step 4 replaces the model)."))
    return CheckResult("invocation", title, True,
                       _("{said}, as the local model.").format(said=said) if answer.agrees else f"{said}.")


CHECKS = (Check("image", N_("Image"), image), Check("role", N_("Role"), role),
          Check("endpoint", N_("Endpoint"), endpoint), Check("invocation", N_("Invocation"), invocation))
