"""Exercise 5's steps: each plans from State (create / update / none, and why) and applies."""
from __future__ import annotations

import time
from typing import Callable

from botocore.exceptions import ClientError

from ... import ecr, i18n, iam, s3, sagemaker
from ...config import COURSE_BUCKET
from ...errors import LabError, error_code
from ...i18n import N_, _, ngettext
from ...lab import Decision, LabContext, Progress, Step, StepResult, create, no_progress, nothing, update
from ...names import lab_tags
from ...ownership import adopted_note, claim
from . import deployment, snippets
from .deployment import price_sentence
from .query import course_rows, query
from .state import (LAB_ROLE, MODEL_KEY, SAGEMAKER_PRINCIPAL, USE_LAB_ROLE, Endpoint, LocalModel,
                    State, course_model_etag, mlflow_version, model_dir, policy_document, read_deployment,
                    read_image, read_local_model, read_policy, read_role)


def _sentence(parts: list[str]) -> str:
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


# ---- step 1: the serving image --------------------------------------------------------------------


def plan_image(ctx: LabContext, state: State) -> Decision:
    image = state.image
    ref = f"{state.names.serving_repository}:{image.tag}"
    if image.digest is not None:
        return nothing(_("{image} is already in ECR (it is pushed once per account and region).").format(image=ref))
    if image.sandbox:
        return create(_("Record the push of {image} in the sandbox's ECR (no Docker needed).").format(image=ref))
    if not deployment.docker_available():
        return create(_("Push {image} with `mlflow sagemaker build-and-push-container`: that needs Docker, which this "
                        "machine lacks, so the step will say how to push it from elsewhere.").format(image=ref))
    return create(_("Build MLflow's serving image and push it as {image} (several minutes, once per "
                    "account).").format(image=ref))


def run_image(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    repository, tag = ctx.names.serving_repository, mlflow_version()
    image = read_image(ctx)
    if image.digest is not None:
        return StepResult("image", False, _("{image} is already in ECR: nothing to do (it is pushed once per account "
                                            "and region).").format(image=f"{repository}:{tag}"), {"image": deployment.image_url(ctx, image.repository_uri),
                                                       "digest": image.digest})
    if ctx.aws.target.is_sandbox:
        # The repository is the account's, shared by the class: tagged by whoever creates it, never claimed.
        repo = ecr.ensure_repository(ctx.aws, repository, lab_tags(ctx.svc, 5))
        digest = ecr.record_push(ctx.aws, repository, tag)
        return StepResult("image", True, _("Recorded the push of {image} to ECR: the sandbox needs no Docker, and its "
                                           "endpoints run MLflow's scoring server directly.").format(
                                               image=f"{repository}:{tag}"),
                          {"image": f"{repo.uri}:{tag}", "digest": digest, "repository_created": repo.created})
    if not deployment.docker_available():
        raise LabError(_(
            "{image} is not in ECR yet, and pushing it needs Docker, which this machine does not have. "
            "On a machine with Docker and these credentials run `pip install mlflow=={tag}` then "
            "`mlflow sagemaker build-and-push-container` (once per account and region; about 10 minutes), "
            "or ask your instructor to push it. Then run this step again to check.").format(
                image=f"{repository}:{tag}", tag=tag), "DockerMissing")
    digest = deployment.build_and_push(ctx, tag, on_progress)
    return StepResult("image", True, _("Built and pushed {image}.").format(image=f"{repository}:{tag}"),
                      {"digest": digest})


# ---- step 2: the execution role -------------------------------------------------------------------

def plan_role(ctx: LabContext, state: State) -> Decision:
    names = state.names
    if state.uses_lab_role is True:
        if state.lab_role is None:
            return nothing(_("Uses the learner lab's {role}, but this account has none: the step will stop "
                             "(untick 'Use LabRole' to create the lab's own role).").format(role=LAB_ROLE))
        if not state.lab_role.trusted:
            return nothing(_("Uses {role}, but it does not trust {principal}: the step will stop.").format(
                role=LAB_ROLE, principal=SAGEMAKER_PRINCIPAL))
        return nothing(_("Uses the learner lab's {role}: creates nothing.").format(role=LAB_ROLE))
    role, policy = state.role, state.policy
    claims = {found.seen.name: claim(ctx.svc, found.seen) for found in (role, policy) if found is not None}
    todo = [_("adopt and tag {name} (it has no lab tags)").format(name=name)
            for name, how in claims.items() if how == "adopt"]
    role_name, policy_name = names.sagemaker_role, names.sagemaker_policy
    if role is None:
        todo.append(_("create role {role} (trusted by SageMaker)").format(role=role_name))
    elif not role.trusted:
        todo.append(_("let {principal} assume {role}").format(principal=SAGEMAKER_PRINCIPAL, role=role_name))
    if policy is None:
        todo.append(_("create policy {policy} (read the model artifact, pull the image, write logs)").format(
            policy=policy_name))
    elif not policy.current:
        todo.append(_("give {policy} the lab's document (a new default version)").format(policy=policy_name))
    if role is None or policy is None or names.sagemaker_policy not in role.attached:
        todo.append(_("attach {policy} to {role}").format(policy=policy_name, role=role_name))
    if todo:
        return (create if role is None or policy is None else update)(_sentence(todo))
    return nothing(_("Role {role} is trusted by SageMaker, with {policy} attached.").format(role=role_name,
                                                                                            policy=policy_name))


def run_role(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    names, tags = ctx.names, lab_tags(ctx.svc, 5)
    if USE_LAB_ROLE.get(ctx):
        role = iam.learner_lab_role(ctx.aws, SAGEMAKER_PRINCIPAL)
        return StepResult("role", False, _("Using the learner lab's {role} (SageMaker may assume it).").format(
            role=LAB_ROLE),
                          {"arn": role["Arn"]})
    found_role, found_policy = read_role(ctx, names.sagemaker_role), read_policy(ctx)
    # Both claimed before anything is written: another student's role or policy stops the step untouched.
    adopted = [found.seen for found in (found_role, found_policy)
               if found is not None and claim(ctx.svc, found.seen) == "adopt"]
    try:
        policy = iam.ensure_policy(ctx.aws, names.sagemaker_policy, policy_document(names), tags,
                                   description=f"SageMaker endpoint of {ctx.svc}: model artifact, image, logs")
        role = iam.ensure_role(ctx.aws, names.sagemaker_role, SAGEMAKER_PRINCIPAL, tags,
                               description=f"Execution role of {names.endpoint}")
    except ClientError as err:
        if error_code(err) in ("AccessDenied", "AccessDeniedException"):
            raise LabError(_("This account may not create roles or policies (an AWS Academy learner lab?): tick "
                             "'Use LabRole' and run the step again."), "CannotCreateRole") from err
        raise
    for seen in adopted:
        (iam.tag_role(ctx.aws, seen.name, tags) if seen.kind == "role" else iam.tag_policy(ctx.aws, seen.id, tags))
    attached = iam.ensure_policy_attached(ctx.aws, names.sagemaker_role, policy.arn)
    trust_fixed = found_role is not None and not found_role.trusted
    changed = role.created or policy.created or policy.updated or attached or trust_fixed or bool(adopted)
    if role.created:
        summary = _("Created role {role}, trusted by SageMaker, with {policy} attached.")
    elif changed:
        summary = _("Brought role {role} and its policy in line.")
    else:
        summary = _("Role {role} exists, trusted by SageMaker, with its policy: nothing to do.")
    summary = summary.format(role=names.sagemaker_role, policy=names.sagemaker_policy)
    summary = " ".join([summary, *(adopted_note(seen) for seen in adopted)])
    return StepResult("role", changed, summary, {"arn": role.arn, "policy": policy.arn,
                                                 "adopted": [seen.name for seen in adopted]})


# ---- step 3: the model ----------------------------------------------------------------------------

def plan_model(ctx: LabContext, state: State) -> Decision:
    bucket, folder = state.names.sagemaker_bucket, model_dir(ctx)
    todo, creates = [], False
    if state.bucket is None:
        todo.append(_("create bucket {bucket} (MLflow uploads model.tar.gz there)").format(bucket=bucket))
        creates = True
    elif claim(ctx.svc, state.bucket) == "adopt":
        todo.append(_("adopt and tag bucket {bucket} (it has no lab tags)").format(bucket=bucket))
    local, course = state.local_model, state.course_model_etag
    if local is None:
        todo.append(_("unpack {model} from {course} to {folder}").format(model=MODEL_KEY, course=COURSE_BUCKET,
                                                                         folder=folder))
        creates = True
    elif isinstance(local, LocalModel) and isinstance(course, str) and local.etag != course:
        todo.append(_("unpack {model} again: the course's copy changed since it was unpacked").format(model=MODEL_KEY))
    if not todo:
        return nothing(_("The model is unpacked in {folder} and bucket {bucket} is yours.").format(folder=folder,
                                                                                                bucket=bucket))
    return (create if creates else update)(_sentence(todo))


def run_model(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    names = ctx.names
    seen = s3.seen_bucket(ctx.aws, names.sagemaker_bucket)
    adopted = seen is not None and claim(ctx.svc, seen) == "adopt"
    bucket = s3.ensure_bucket(ctx.aws, names.sagemaker_bucket, tags=lab_tags(ctx.svc, 5), block_public_access=True)
    etag = course_model_etag(ctx)
    if etag is None:
        raise LabError(_("{model} is missing from {bucket}: ask your instructor to publish the course "
                         "files.").format(model=MODEL_KEY, bucket=COURSE_BUCKET), "MissingCourseFile")
    local = read_local_model(ctx)
    unpacked = False
    if local is None or local.etag != etag:  # the same file already unpacked is not fetched again
        unpacked = deployment.unpack_model(ctx, s3.read_object(ctx.aws, COURSE_BUCKET, MODEL_KEY), etag)
        local = read_local_model(ctx)
    target = model_dir(ctx)
    flavors = deployment.flavors(target)
    parts = []
    if unpacked:
        parts.append(_("Unpacked {model} to {folder} (flavors: {flavors})").format(
            model=MODEL_KEY, folder=target, flavors=", ".join(flavors)))
    if bucket.created:
        parts.append(_("created bucket {bucket} for the artifact MLflow uploads").format(bucket=bucket.name))
    summary = ("; ".join(parts) + ".") if parts else \
        _("The model is unpacked in {folder} and bucket {bucket} exists: nothing to do.").format(folder=target,
                                                                                              bucket=bucket.name)
    if adopted:
        summary += " " + adopted_note(seen)
    return StepResult("model", unpacked or bucket.changed, summary[0].upper() + summary[1:],
                      {"model_uri": str(target), "sha256": local.sha256 if local else None, "bucket": bucket.name,
                       "flavors": flavors, "adopted": adopted})


# ---- step 4: deploy -------------------------------------------------------------------------------

_BEING = {"Creating": N_("being created"), "Updating": N_("being updated"), "SystemUpdating": N_("being updated by AWS"),
          "RollingBack": N_("rolling back an update")}


def deploy_decision(ctx: LabContext, endpoint: Endpoint | None, local: LocalModel | None,
                    course_etag: str | None = None) -> Decision:
    """Return what deploying would do now (NotYours if the endpoint is another student's)."""
    name = ctx.names.endpoint
    if endpoint is None:
        return create(_("Deploy {name} with MLflow's create_deployment: {price}").format(name=name,
                                                                                       price=price_sentence(ctx)))
    adopt = claim(ctx.svc, endpoint.seen) == "adopt"
    status = endpoint.status
    if status == "Failed":
        return update(_("{name} failed ({reason}): delete it and deploy again.").format(
            name=name, reason=endpoint.failure_reason or _("no reason given")))
    if status == "Deleting":
        return create(_("{name} is being deleted: the step waits until it is gone, then deploys it anew.").format(
            name=name))
    if status in _BEING:
        return nothing(_("{name} is {being} ({status}): the step waits until it is InService.").format(
            name=name, being=_(_BEING[status]), status=status))
    if status != "InService":
        return nothing(_("{name} is {status}: wait, or delete it and deploy again.").format(name=name, status=status))
    if local is not None and course_etag is not None and local.etag != course_etag:
        return update(_("The course's {model} changed since it was unpacked: step 3 unpacks it again and this "
                        "step replaces the deployed model (update_deployment).").format(model=MODEL_KEY))
    if local is not None and endpoint.model_sha != local.sha256:
        return update(_("{name} serves another model than the one unpacked in {folder}: replace it "
                        "(update_deployment).").format(name=name, folder=local.folder))
    if adopt:
        return update(_("Endpoint {name} exists without the lab's tags: adopt it and tag it.").format(name=name))
    return nothing(_("{name} is InService with this model.").format(name=name))


def plan_deploy(ctx: LabContext, state: State) -> Decision:
    local = state.local_model if isinstance(state.local_model, LocalModel) else None
    course = state.course_model_etag if isinstance(state.course_model_etag, str) else None
    return deploy_decision(ctx, state.endpoint, local, course)


def run_deploy(ctx: LabContext, on_progress: Progress = no_progress, sleep: Callable[[float], None] = time.sleep,
               timeout: float = sagemaker.DEFAULT_WAIT_S, poll: float | None = None) -> StepResult:
    """Create or update the endpoint through MLflow and wait until it is InService; return what changed."""
    name = ctx.names.endpoint
    endpoint, configs, models = read_deployment(ctx)
    local = read_local_model(ctx)
    decision = deploy_decision(ctx, endpoint, local)
    # Claimed before anything changes: another student's endpoint, config or model stops the step.
    found = ([endpoint.seen] if endpoint else []) + list(configs) + list(models)
    mine = {seen.name: claim(ctx.svc, seen) for seen in found}
    adopted = [seen for seen in found if mine[seen.name] == "adopt" and deployment.adopt(ctx, seen)]
    notes = [adopted_note(seen) for seen in adopted]
    poll = poll if poll is not None else (1.0 if ctx.aws.target.is_sandbox else sagemaker.POLL_S)
    wait = dict(on_progress=on_progress, timeout=timeout, poll=poll, sleep=sleep)
    if decision.action == "none":
        if endpoint is not None and endpoint.status in _BEING:
            on_progress(_("Endpoint {name} is {status}: waiting for it…").format(name=name, status=endpoint.status))
            description = sagemaker.wait_for_endpoint(ctx.aws, name, **wait)
            return StepResult("deploy", bool(adopted),
                              " ".join([_("Endpoint {name} is InService.").format(name=name), *notes]),
                              _details(ctx, description))
        summary = _("Endpoint {name} is InService with this model: nothing to do.").format(name=name) \
            if endpoint is not None and endpoint.status == "InService" else decision.reason
        return StepResult("deploy", bool(adopted), " ".join([summary, *notes]),
                          {"endpoint": name, "status": endpoint.status if endpoint else None})
    if endpoint is not None and endpoint.status == "InService" and (local is None or endpoint.model_sha == local.sha256):
        # Only the lab's tags were missing: adopted above, nothing to redeploy.
        return StepResult("deploy", True,
                          " ".join([_("Endpoint {name} is InService with this model.").format(name=name), *notes]),
                          {"endpoint": name, "status": endpoint.status})
    spec = deployment.deploy_spec(ctx)
    on_progress(price_sentence(ctx))
    if endpoint is not None and endpoint.status == "Failed":
        on_progress(_("Deleting the failed endpoint first ({reason}).").format(
            reason=endpoint.failure_reason or _("no reason given")))
        deployment.delete_deployment(ctx, on_progress, sleep=sleep)
        endpoint = None
    elif endpoint is not None and endpoint.status == "Deleting":
        sagemaker.wait_for_endpoint_deleted(ctx.aws, name, poll=poll, sleep=sleep)
        endpoint = None
    previous = endpoint.config if endpoint is not None else None
    if previous:
        on_progress(_("Replacing the model of {name} ({reason}) with MLflow's update_deployment…").format(
            name=name, reason=decision.reason))
    else:
        on_progress(_("Deploying {name} with MLflow's create_deployment (uploading the model to {where})…").format(
            name=name, where=f"s3://{spec.bucket}/"))
    try:
        sagemaker.mlflow_deploy(ctx.aws, spec, update=previous is not None)
        description = sagemaker.wait_for_endpoint(ctx.aws, name, previous_config=previous, **wait)
    finally:
        deployment.tag_configs(ctx)
    removed = deployment.delete_replaced(ctx) if previous else []
    summary = (_("Updated endpoint {name}: InService on {count} × {type}.") if previous else
               _("Created endpoint {name}: InService on {count} × {type}.")).format(
                   name=name, count=spec.instance_count, type=spec.instance_type)
    if removed:
        summary += " " + _("Deleted the replaced {resources}.").format(resources=", ".join(removed))
    if not ctx.aws.target.is_sandbox:
        summary += " " + _("It bills by the hour until you delete it.")
    return StepResult("deploy", True, " ".join([summary, *notes]), _details(ctx, description))


def _details(ctx: LabContext, description: dict) -> dict:
    return {"endpoint": ctx.names.endpoint, "status": description["EndpointStatus"],
            "config": description["EndpointConfigName"], "arn": description["EndpointArn"],
            "price": price_sentence(ctx)}


# ---- step 5: query --------------------------------------------------------------------------------

def plan_query(ctx: LabContext, state: State) -> Decision:
    if state.endpoint is None or state.endpoint.status != "InService":
        return nothing(_("Sends five course rows to {name} once it is InService (step 4); changes nothing.").format(
            name=state.names.endpoint))
    return nothing(_("Sends five course rows to {name} and compares the answers with the local model; changes "
                     "nothing.").format(name=state.names.endpoint))


def run_query(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    names = ctx.names
    if sagemaker.get_endpoint(ctx.aws, names.endpoint) is None:
        raise LabError(_("Endpoint {name} does not exist: deploy it first (step 4).").format(name=names.endpoint),
                       "EndpointNotFound")
    result = query(ctx, course_rows(ctx, limit=5))
    differ = len(result.mismatches)
    agree = _("all agree with the local model") if not differ else \
        ngettext("{n} differs from the local model", "{n} differ from the local model", differ).format(n=differ)
    answered = len(result.endpoint)
    summary = ngettext("The endpoint answered {n} prediction in {ms} ms; {agree}.",
                       "The endpoint answered {n} predictions in {ms} ms; {agree}.", answered).format(
                           n=answered, ms=i18n.number(result.seconds * 1000, 0), agree=agree)
    return StepResult("query", False, summary, {"rows": result.rows()})


# Step texts are catalog entries, so they name these values as written out: keep them the ones the steps use.
assert (SAGEMAKER_PRINCIPAL, LAB_ROLE, MODEL_KEY) == ("sagemaker.amazonaws.com", "LabRole", "mlflow_model.zip"), \
    "update the step texts and their translations"

STEPS = (
    Step("image", N_("Push the serving image"),
         N_("SageMaker runs a model inside a container image from ECR. MLflow's image (`mlflow-pyfunc`) is built "
            "and pushed once per account and region with `mlflow sagemaker build-and-push-container`, which needs "
            "Docker. Without Docker, push it from a machine that has it (or ask your instructor); the sandbox "
            "records the push for you."), run_image, snippets.image, plan_image),
    Step("role", N_("Create the execution role"),
         N_("SageMaker assumes this role to pull the image and read the model artifact: trust policy for "
            "`sagemaker.amazonaws.com`, and a policy for exactly that (plus its logs). AWS Academy learner labs "
            "use `LabRole`."), run_role, snippets.role, plan_role),
    Step("model", N_("Get the MLflow model"),
         N_("`mlflow_model.zip` from the course bucket, unpacked: an MLflow model directory (`MLmodel`, the "
            "scikit-learn pipeline, its requirements). MLflow uploads it as `model.tar.gz` to `sagemaker-<name>` "
            "when it deploys."), run_model, snippets.model, plan_model),
    Step("deploy", N_("Deploy the endpoint"),
         N_("MLflow's deployment client creates the SageMaker model, the endpoint config and the endpoint, then "
            "SageMaker starts an instance: Creating → InService (5–10 minutes on AWS). A changed model replaces "
            "the deployed one (`update_deployment`). The handout's `mlflow.sagemaker.deploy` was removed in "
            "MLflow 2."),
         run_deploy, snippets.deploy, plan_deploy),
    Step("query", N_("Query the endpoint"),
         # No JSON braces here: a catalog entry with braces reads as a format template.
         N_("`sagemaker-runtime.invoke_endpoint` with `ContentType: application/json` and a `dataframe_split` "
            "JSON body (the handout's `format=pandas-split` is refused by MLflow 2+ servers). The answer's "
            "`predictions` hold one `[p(<=50K), p(>50K)]` pair per record."), run_query, snippets.query, plan_query),
)
