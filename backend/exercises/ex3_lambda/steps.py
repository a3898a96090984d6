"""Exercise 3's steps: each plans from State (create / update / none, and why) and applies.

Before writing, a step re-reads what it touches and claims it: another student's resource stops it
(NotYours), an untagged one with the student's exact name is adopted and tagged, and it says so.
"""
from __future__ import annotations

import json
from datetime import datetime

from botocore.exceptions import ClientError

from ... import iam, lambda_, logs, s3
from ...config import COURSE_BUCKET
from ...errors import LabError, error_code
from ...i18n import N_, _, ngettext, number
from ...lab import Decision, LabContext, Progress, Step, StepResult, create, no_progress, nothing, update
from ...names import lab_tags
from ...ownership import Seen, adopted_note, claim
from . import snippets
from .batch import run_batch
from .deploy import (HANDLER, LAB_ROLE, LAMBDA_SERVICE, LAYER_KEY, MEMORY_MB, MODEL_KEY, NUMBER, RUNTIME, TEST_KEY,
                     TIMEOUT_S, USE_LAB_ROLE, function_environment, function_spec, handler_sha256, policy_document,
                     role_name)
from .state import (FunctionState, RoleState, State, course_layer_etag, observe, observe_function, observe_layer,
                    observe_log_group, observe_policy, observe_role, remember_sha256)


# What the function step may bring in line, as backend.lambda_.ensure_function names it.
UPDATED_PARTS = {"code": N_("code"), "configuration": N_("configuration")}


def _tags(ctx: LabContext) -> dict[str, str]:
    return lab_tags(ctx.svc, NUMBER)


def _lacks_tags(ctx: LabContext, seen: Seen) -> bool:
    """True if the resource lacks some of the lab's tags (adopted, or tagged by an older version of the lab)."""
    return any(seen.tags.get(k) != v for k, v in _tags(ctx).items())


def _claim_all(ctx: LabContext, seen: list[Seen | None]) -> list[Seen]:
    """Claim every resource before writing any (NotYours stops the step untouched); return those to adopt."""
    return [s for s in seen if s is not None and claim(ctx.svc, s) == "adopt"]


def _sentence(parts: list[str]) -> str:
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "."


# ---- buckets --------------------------------------------------------------------------------

def plan_buckets(ctx: LabContext, state: State) -> Decision:
    missing = [name for name, bucket in state.buckets if bucket is None]
    present = [bucket for _name, bucket in state.buckets if bucket is not None]
    adopt = [s.name for s in _claim_all(ctx, [b.seen for b in present])]
    changes = []
    if adopt:
        changes.append(_("adopt and tag {names} (made without the lab's tags)").format(names=", ".join(adopt)))
    retag = [b.seen.name for b in present if b.seen.name not in adopt and _lacks_tags(ctx, b.seen)]
    if retag:
        changes.append(_("complete the lab's tags on {names}").format(names=", ".join(retag)))
    open_ = [b.seen.name for b in present if b.private is False]
    if open_:
        changes.append(_("block public access on {names}").format(names=", ".join(open_)))
    if state.model is None:
        changes.append(_("copy {key} from the course bucket into {bucket}").format(
            key=MODEL_KEY, bucket=state.names.model_bucket))
    elif state.course_model and state.model and state.model.etag != state.course_model.etag:
        changes.append(_("{key} in {bucket} differs from the course's: copy it again").format(
            key=MODEL_KEY, bucket=state.names.model_bucket))
    if missing:
        return create(_sentence([_("create {names} in {region} (public access blocked, tagged for {svc})").format(
            names=", ".join(missing), region=state.region, svc=ctx.svc)] + changes))
    if changes:
        return update(_sentence(changes))
    return nothing(_("The three buckets exist, private and yours, and {key} is the course's.").format(key=MODEL_KEY))


def _copy_model(ctx: LabContext) -> bool:
    course = s3.head_object(ctx.aws, COURSE_BUCKET, MODEL_KEY)
    if course is None:
        raise LabError(_("{key} is missing from {bucket}: ask your instructor to publish the course files.").format(
            key=MODEL_KEY, bucket=COURSE_BUCKET), "MissingCourseFile")
    ours = s3.head_object(ctx.aws, ctx.names.model_bucket, MODEL_KEY)
    if ours is not None and ours["ETag"] == course["ETag"]:
        return False
    ctx.aws.client("s3").copy_object(Bucket=ctx.names.model_bucket, Key=MODEL_KEY,
                                     CopySource={"Bucket": COURSE_BUCKET, "Key": MODEL_KEY})
    return True


def run_buckets(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    names = ctx.names
    wanted = (names.model_bucket, names.input_bucket, names.output_bucket)
    adopted = _claim_all(ctx, [s3.seen_bucket(ctx.aws, b) for b in wanted])
    results = [s3.ensure_bucket(ctx.aws, b, tags=_tags(ctx), block_public_access=True) for b in wanted]
    model_changed = _copy_model(ctx)
    created = [r.name for r in results if r.created]
    changed = any(r.changed for r in results) or model_changed
    if not changed:
        summary = _("The three buckets exist with public access blocked, and model.onnx is in place: nothing to do.")
    else:
        done = _("Created {names}").format(names=", ".join(created)) if created else _("Buckets brought in line")
        summary = (_("{done}; copied model.onnx to {bucket}.").format(done=done, bucket=names.model_bucket)
                   if model_changed else f"{done}.")
    summary = " ".join([summary] + [adopted_note(s) for s in adopted])
    return StepResult("buckets", changed, summary,
                      {"buckets": list(wanted), "created": created, "adopted": [s.name for s in adopted],
                       "model": f"s3://{names.model_bucket}/{MODEL_KEY}"})


# ---- policy ---------------------------------------------------------------------------------

def _canonical(document: dict) -> str:
    return json.dumps(document, sort_keys=True)


def plan_policy(ctx: LabContext, state: State) -> Decision:
    name = state.names.lambda_policy
    if USE_LAB_ROLE.get(ctx):
        return nothing(_("Uses {role}: the learner lab sets its permissions, so no policy is created.").format(
            role=LAB_ROLE))
    if state.policy is None:
        return create(_("Create policy {name}: write logs, read {input} and {model}, write {output}.").format(
            name=name, input=state.names.input_bucket, model=state.names.model_bucket,
            output=state.names.output_bucket))
    changes = []
    if claim(ctx.svc, state.policy.seen) == "adopt":
        changes.append(_("policy {name} exists without the lab's tags: adopt it and tag it").format(name=name))
    elif _lacks_tags(ctx, state.policy.seen):
        changes.append(_("complete the lab's tags on {names}").format(names=name))
    if _canonical(state.policy.document) != _canonical(policy_document(state.names)):
        changes.append(_("{name} allows something else than the lab's buckets: make the lab's document its default "
                         "version").format(name=name))
    if changes:
        return update(_sentence(changes))
    return nothing(_("Policy {name} allows exactly what the function needs and is yours.").format(name=name))


def run_policy(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    names = ctx.names
    if USE_LAB_ROLE.get(ctx):
        return StepResult("policy", False, _("Using {role}: its permissions are set by the learner lab; no "
                                             "policy to create.").format(role=LAB_ROLE), {})
    current = observe_policy(ctx)
    adopted = current is not None and claim(ctx.svc, current.seen) == "adopt"
    result = iam.ensure_policy(ctx.aws, names.lambda_policy, policy_document(names), _tags(ctx),
                               description=f"Batch Lambda of {ctx.svc}: logs, read input/model, write output")
    tagged = current is not None and _lacks_tags(ctx, current.seen)
    if tagged:
        iam.tag_policy(ctx.aws, result.arn, _tags(ctx))
    if result.created:
        summary = _("Created policy {name}.").format(name=result.name)
    elif result.updated:
        summary = _("Policy {name} had a different document: set the correct one as its default version.").format(
            name=result.name)
    elif tagged:
        summary = "" if adopted else _("Policy {name} was missing some of the lab's tags: tagged.").format(
            name=result.name)
    else:
        summary = _("Policy {name} already allows exactly what the function needs: nothing to do.").format(
            name=result.name)
    if adopted:
        summary = f"{summary} {adopted_note(current.seen)}".strip()
    return StepResult("policy", result.created or result.updated or tagged, summary,
                      {"arn": result.arn, "adopted": adopted})


# ---- role -----------------------------------------------------------------------------------

def plan_role(ctx: LabContext, state: State) -> Decision:
    names = state.names
    if USE_LAB_ROLE.get(ctx):
        if state.lab_role is None:
            return nothing(_("This account has no {role}: this step will stop (untick 'Use LabRole').").format(
                role=LAB_ROLE))
        return nothing(_("Uses the learner lab's {role} (it may not be changed).").format(role=LAB_ROLE))
    role = state.role
    if role is None:
        return create(_("Create role {role}, trusted by Lambda, with {policy} attached.").format(
            role=names.lambda_role, policy=names.lambda_policy))
    changes = []
    if claim(ctx.svc, role.seen) == "adopt":
        changes.append(_("role {name} exists without the lab's tags: adopt it and tag it").format(
            name=names.lambda_role))
    elif _lacks_tags(ctx, role.seen):
        changes.append(_("complete the lab's tags on {names}").format(names=names.lambda_role))
    if not role.trusts_lambda:
        changes.append(_("let {service} assume it (its trust policy)").format(service=LAMBDA_SERVICE))
    if not any(arn.rsplit("/", 1)[-1] == names.lambda_policy for arn in role.attached):
        changes.append(_("attach {policy}").format(policy=names.lambda_policy))
    if changes:
        return update(_sentence(changes))
    return nothing(_("Role {role} is trusted by Lambda, has {policy} and is yours.").format(
        role=names.lambda_role, policy=names.lambda_policy))


def run_role(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    names = ctx.names
    if USE_LAB_ROLE.get(ctx):
        role = iam.learner_lab_role(ctx.aws, LAMBDA_SERVICE)
        return StepResult("role", False, _("Using the learner lab's {role} (it may not be changed).").format(
            role=LAB_ROLE), {"arn": role["Arn"]})
    current = observe_role(ctx, names.lambda_role)
    adopted = current is not None and claim(ctx.svc, current.seen) == "adopt"
    policy_arn = iam.policy_arn(ctx.aws, names.lambda_policy)
    if iam.get_policy(ctx.aws, policy_arn) is None:
        raise LabError(_("Policy {name} does not exist yet: run the policy step first.").format(
            name=names.lambda_policy), "MissingPolicy")
    try:
        result = iam.ensure_role(ctx.aws, names.lambda_role, LAMBDA_SERVICE, _tags(ctx),
                                 description=f"Batch Lambda of {ctx.svc}")
    except ClientError as err:
        if error_code(err) in ("AccessDenied", "AccessDeniedException"):
            raise LabError(_("This account may not create roles (an AWS Academy learner lab?): tick 'Use LabRole' "
                             "and run the step again."), "CannotCreateRole") from err
        raise
    tagged = current is not None and _lacks_tags(ctx, current.seen)
    if tagged:
        iam.tag_role(ctx.aws, names.lambda_role, _tags(ctx))
    trust_fixed = current is not None and not current.trusts_lambda
    attached = iam.ensure_policy_attached(ctx.aws, names.lambda_role, policy_arn)
    if result.created:
        summary = _("Created role {role}, trusted by Lambda, with {policy} attached.").format(
            role=names.lambda_role, policy=names.lambda_policy)
    elif attached or trust_fixed or tagged:
        done = [what for what, did in ((_("attached {policy}").format(policy=names.lambda_policy), attached),
                                       (_("let {service} assume it").format(service=LAMBDA_SERVICE), trust_fixed),
                                       (_("tagged it"), tagged and not adopted)) if did]
        summary = _("Role {role} existed: {done}.").format(role=names.lambda_role, done=", ".join(done)) if done else ""
    else:
        summary = _("Role {role} exists with its policy attached: nothing to do.").format(role=names.lambda_role)
    if adopted:
        summary = f"{summary} {adopted_note(current.seen)}".strip()
    return StepResult("role", result.created or attached or trust_fixed or tagged, summary,
                      {"arn": result.arn, "adopted": adopted})


# ---- layer ----------------------------------------------------------------------------------

def plan_layer(ctx: LabContext, state: State) -> Decision:
    names = state.names
    layer = state.layer
    if layer is None:
        return create(_("Publish layer {layer} from the course's {key} (onnxruntime, numpy).").format(
            layer=names.lambda_layer, key=LAYER_KEY))
    changes = []
    if claim(ctx.svc, layer.seen) == "adopt":
        changes.append(_("layer {layer} carries no lab tags in its description (made by hand?): "
                         "publish a version whose description carries them").format(layer=names.lambda_layer))
    elif layer.description != names.lambda_layer_description:
        changes.append(_("its newest version's description lacks the lab's tags: publish a version that has them"))
    if state.course_layer_sha256 is None:
        return nothing(_("Layer {layer} version {version} exists; the course bucket has no {key} to compare it "
                         "with.").format(layer=names.lambda_layer, version=layer.version, key=LAYER_KEY))
    if layer.code_sha256 != state.course_layer_sha256:
        changes.append(_("version {version} differs from the course's {key}: publish it as a new version").format(
            version=layer.version, key=LAYER_KEY))
    if changes:
        return update(_sentence(changes))
    return nothing(_("Layer {layer} version {version} holds the course's {key}.").format(
        layer=names.lambda_layer, version=layer.version, key=LAYER_KEY))


def run_layer(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    names = ctx.names
    head = s3.head_object(ctx.aws, COURSE_BUCKET, LAYER_KEY)
    if head is None:
        raise LabError(_("{key} is missing from {bucket}.").format(key=LAYER_KEY, bucket=COURSE_BUCKET),
                       "MissingCourseFile")
    if not s3.bucket_exists(ctx.aws, names.model_bucket):
        raise LabError(_("Bucket {name} does not exist yet: run the buckets step first.").format(
            name=names.model_bucket), "MissingBucket")
    current = observe_layer(ctx)
    adopted = current is not None and claim(ctx.svc, current.seen) == "adopt"
    on_progress(_("Reading {key} ({size} MB) from {bucket}…").format(
        key=LAYER_KEY, size=number(head["ContentLength"] / 2**20, 1), bucket=COURSE_BUCKET))
    data = s3.read_object(ctx.aws, COURSE_BUCKET, LAYER_KEY)
    spec = lambda_.FunctionSpec(name="-", role_arn="-", zip_bytes=data, handler="-")
    remember_sha256(course_layer_etag(head), spec.code_sha256)  # later plans compare without downloading it
    result = lambda_.ensure_layer(ctx.aws, names.lambda_layer, data, RUNTIME,
                                  description=names.lambda_layer_description,
                                  staging=(names.model_bucket, f"layers/{LAYER_KEY}"))
    size = number(len(data) / 2**20, 1)
    if result.created and result.via_s3:
        summary = _("Published {layer} version {version} ({size} MB, through S3: over the 50 MB direct upload "
                    "limit).").format(layer=names.lambda_layer, version=result.version, size=size)
    elif result.created:
        summary = _("Published {layer} version {version} ({size} MB).").format(
            layer=names.lambda_layer, version=result.version, size=size)
    else:
        summary = _("Layer {layer} version {version} already holds this zip: nothing to do.").format(
            layer=names.lambda_layer, version=result.version)
    if adopted:
        summary += " " + adopted_note(current.seen)
    return StepResult("layer", result.created, summary,
                      {"arn": result.version_arn, "size_bytes": len(data), "adopted": adopted})


# ---- function -------------------------------------------------------------------------------

def differences(ctx: LabContext, state: State, function: FunctionState) -> list[str]:
    """Return what the function step would change in the function, in words (empty: nothing)."""
    names = state.names
    out = []
    if function.runtime != RUNTIME:
        out.append(_("runtime {old} → {new}").format(old=function.runtime, new=RUNTIME))
    if function.handler != HANDLER:
        out.append(_("handler {old} → {new}").format(old=function.handler, new=HANDLER))
    if function.memory_mb != MEMORY_MB:
        out.append(_("memory {old} → {new} MB").format(old=function.memory_mb, new=MEMORY_MB))
    if function.timeout_s != TIMEOUT_S:
        out.append(_("timeout {old} → {new} s").format(old=function.timeout_s, new=TIMEOUT_S))
    env = function_environment(ctx)
    changed = sorted(k for k in env.keys() | function.environment.keys() if env.get(k) != function.environment.get(k))
    if changed:
        removed = _("(removed)")
        out.append(_("environment {variables}").format(
            variables=", ".join(f"{k}={env.get(k, removed)}" for k in changed)))
    if state.layer is not None and function.layers != (state.layer.version_arn,):
        out.append(_("layers → {layer} version {version}").format(layer=names.lambda_layer,
                                                                   version=state.layer.version))
    role = state.lab_role if USE_LAB_ROLE.get(ctx) else state.role
    if isinstance(role, RoleState) and function.role_arn != role.seen.id:
        out.append(_("role → {role}").format(role=role_name(ctx)))
    if function.code_sha256 != handler_sha256():
        out.append(_("code (lambda_code/ changed since it was deployed)"))
    return out


def plan_function(ctx: LabContext, state: State) -> Decision:
    names = state.names
    function = state.function
    group = state.log_group
    adopt_group = group is not None and claim(ctx.svc, group.seen) == "adopt"
    if function is None:
        what = (_("adopt and tag its log group {group} (it exists without the lab's tags)").format(
                    group=names.lambda_log_group) if adopt_group
                else _("its log group tagged for {svc}").format(svc=ctx.svc))
        return create(_("Create function {name} ({runtime}, {memory} MB, {timeout} s) with layer {layer} and role "
                        "{role}; {log_group}.").format(
                            name=names.lambda_function, runtime=RUNTIME, memory=MEMORY_MB, timeout=TIMEOUT_S,
                            layer=names.lambda_layer, role=role_name(ctx), log_group=what))
    changes = []
    if claim(ctx.svc, function.seen) == "adopt":
        changes.append(_("function {name} exists without the lab's tags: adopt it and tag it").format(
            name=names.lambda_function))
    elif _lacks_tags(ctx, function.seen):
        changes.append(_("complete the lab's tags on {names}").format(names=names.lambda_function))
    diffs = differences(ctx, state, function)
    if diffs:
        changes.append(_("bring in line: {changes}").format(changes=", ".join(diffs)))
    if group is None:
        changes.append(_("create its log group {group}, tagged").format(group=names.lambda_log_group))
    elif adopt_group:
        changes.append(_("log group {group} exists without the lab's tags: adopt it and tag it").format(
            group=names.lambda_log_group))
    elif _lacks_tags(ctx, group.seen):
        changes.append(_("complete the lab's tags on {names}").format(names=names.lambda_log_group))
    if changes:
        return update(_sentence(changes))
    return nothing(_("Function {name} is deployed as the step would deploy it, and yours.").format(
        name=names.lambda_function))


def run_function(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    names = ctx.names
    spec = function_spec(ctx)
    current, group = observe_function(ctx), observe_log_group(ctx)
    adopted = _claim_all(ctx, [current.seen if current else None, group.seen if group else None])
    # Lambda would create its log group untagged on the first run; made here it carries the lab's tags.
    group_created = logs.ensure_log_group(ctx.aws, names.lambda_log_group, _tags(ctx))
    group_tagged = group is not None and _lacks_tags(ctx, group.seen)
    if group_tagged:
        logs.tag_log_group(ctx.aws, group.seen.id, _tags(ctx))
    result = lambda_.ensure_function(ctx.aws, spec, on_progress=on_progress)
    retagged = current is not None and _lacks_tags(ctx, current.seen)
    if retagged:
        lambda_.tag_function(ctx.aws, result.arn, _tags(ctx))
    if result.created:
        summary = _("Created function {name} ({runtime}, {memory} MB, {timeout} s) with its layer.").format(
            name=spec.name, runtime=RUNTIME, memory=MEMORY_MB, timeout=TIMEOUT_S)
    elif result.updated:
        parts = [_(UPDATED_PARTS[part]) if part in UPDATED_PARTS else part for part in result.updated]
        if len(parts) == 2:
            parts = [_("{first} and {second}").format(first=parts[0], second=parts[1])]
        summary = _("Function {name} existed: updated its {parts}.").format(name=spec.name, parts=", ".join(parts))
    elif group_created:
        summary = _("Function {name} is up to date: created its tagged log group.").format(name=spec.name)
    elif retagged or group_tagged:
        summary = _("Function {name} is up to date; tagged what lacked the lab's tags.").format(name=spec.name)
    else:
        summary = _("Function {name} is up to date: nothing to do.").format(name=spec.name)
    summary = " ".join([summary] + [adopted_note(s) for s in adopted])
    changed = result.created or bool(result.updated) or retagged or group_created or group_tagged
    return StepResult("function", changed, summary,
                      {"arn": result.arn, "environment": spec.environment, "layers": list(spec.layers),
                       "adopted": [s.name for s in adopted]})


# ---- trigger --------------------------------------------------------------------------------

def _notifies(notifications, arn: str) -> bool:
    return any(n.function_arn == arn and "s3:ObjectCreated:*" in n.events for n in notifications)


def plan_trigger(ctx: LabContext, state: State) -> Decision:
    names = state.names
    function, bucket = state.function, state.input_bucket
    what = _("let S3 invoke {function} and notify it of every object created in {bucket}").format(
        function=names.lambda_function, bucket=names.input_bucket)
    if function is None or bucket is None:
        return create(_sentence([what]))
    _claim_all(ctx, [function.seen, bucket.seen])
    wrong = [name for name, b in state.buckets if name != names.input_bucket and b is not None
             and any(n.function_arn == function.arn for n in b.lambda_notifications)]
    _claim_all(ctx, [b.seen for name, b in state.buckets if name in wrong])
    permitted, notified = function.s3_may_invoke, _notifies(bucket.lambda_notifications, function.arn)
    if not permitted and not notified and not wrong:
        return create(_sentence([what]))
    changes = []
    if not permitted:
        changes.append(_("let S3 invoke {function} for {bucket}").format(
            function=names.lambda_function, bucket=names.input_bucket))
    if not notified:
        changes.append(_("notify it of objects created in {bucket} (other notifications are kept)").format(
            bucket=names.input_bucket))
    if wrong:
        changes.append(_("remove its trigger on {buckets} (every result would trigger it again)").format(
            buckets=", ".join(wrong)))
    if changes:
        return update(_sentence(changes))
    return nothing(_("Objects created in {bucket} already invoke {function}.").format(
        bucket=names.input_bucket, function=names.lambda_function))


def run_trigger(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    names = ctx.names
    function = observe_function(ctx)
    if function is None:
        raise LabError(_("Function {name} does not exist yet: run the function step first.").format(
            name=names.lambda_function), "MissingFunction")
    bucket = s3.seen_bucket(ctx.aws, names.input_bucket)
    if bucket is None:
        raise LabError(_("Bucket {name} does not exist yet: run the buckets step first.").format(
            name=names.input_bucket), "MissingBucket")
    others = [s3.seen_bucket(ctx.aws, b) for b in (names.output_bucket, names.model_bucket)]
    _claim_all(ctx, [function.seen, bucket, *others])  # writes only into the student's own (or untagged) buckets
    permitted = lambda_.ensure_s3_permission(ctx.aws, names.lambda_function, names.input_bucket)
    notified = s3.ensure_lambda_notification(ctx.aws, names.input_bucket, function.arn, config_id=names.lambda_function)
    removed = [b.name for b in others if b is not None and s3.remove_lambda_notification(ctx.aws, b.name, function.arn)]
    if permitted or notified:
        summary = (_("Uploads to {bucket} now trigger {function} (S3 may invoke it; notification added beside any "
                     "existing ones).") if notified else _("Uploads to {bucket} now trigger {function}.")).format(
                         bucket=names.input_bucket, function=names.lambda_function)
    else:
        summary = _("{bucket} already triggers {function}: nothing to do.").format(
            bucket=names.input_bucket, function=names.lambda_function)
    if removed:
        summary += " " + _("Removed its trigger on {buckets} (each result would have triggered it again).").format(
            buckets=", ".join(removed))
    return StepResult("trigger", permitted or notified or bool(removed), summary,
                      {"bucket": names.input_bucket, "function": function.arn, "removed": removed})


# ---- test -----------------------------------------------------------------------------------

def _second(value: datetime) -> datetime:
    # S3 keeps LastModified to the second: compare other times at the same granularity.
    return value.replace(microsecond=0)


def plan_test(ctx: LabContext, state: State) -> Decision:
    """Create when nothing scored the current input yet; update when the last result is stale or failed; else none.

    A student re-runs a test after changing something: a change to the function or a failed run
    plans an upload again. Scoring the same input with the same function again changes nothing
    the lab checks, so it plans none (the page's "Score a CSV" and `predict --target lambda` score on demand).
    """
    names = state.names
    upload = _("upload {key} to {input} and wait for its predictions in {output}").format(
        key=TEST_KEY, input=names.input_bucket, output=names.output_bucket)
    again = _("upload {key} to {input} and wait for its predictions in {output} again").format(
        key=TEST_KEY, input=names.input_bucket, output=names.output_bucket)
    test = state.test
    if state.function is None or test is None or test.uploaded is None:
        return create(_sentence([upload]))
    result = test.result
    if result is None or result.last_modified < _second(test.uploaded.last_modified):
        return create(_sentence([_("no result yet for the {key} in {bucket}: {upload}").format(
            key=TEST_KEY, bucket=names.input_bucket, upload=upload)]))
    if state.function.last_modified and result.last_modified < _second(state.function.last_modified):
        return update(_sentence([_("the function changed after {key} was last scored: {upload}").format(
            key=TEST_KEY, upload=again)]))
    if test.result_failed:
        return update(_sentence([_("the last run failed ({url}): {upload}").format(
            url=f"s3://{names.output_bucket}/{result.key}", upload=again)]))
    if test.course_input is not None and test.uploaded.etag != test.course_input.etag:
        return update(_sentence([_("the {key} in {bucket} is not the course's: {upload}").format(
            key=TEST_KEY, bucket=names.input_bucket, upload=upload)]))
    return nothing(_("{url} already scores the current {key} with the current function: nothing to do (score any "
                     "CSV again with '{button}' or `predict --target lambda`).").format(
                         url=f"s3://{names.output_bucket}/{result.key}", key=TEST_KEY, button=_("Score a CSV")))


def run_test(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    names = ctx.names
    state = observe(ctx)
    decision = plan_test(ctx, state)
    if decision.action == "none":
        result = state.test.result
        return StepResult("test", False, decision.reason, {"output": f"s3://{names.output_bucket}/{result.key}"})
    _claim_all(ctx, [state.input_bucket.seen if state.input_bucket else None,
                     state.output_bucket.seen if state.output_bucket else None])
    data = s3.read_object(ctx.aws, COURSE_BUCKET, TEST_KEY)
    result = run_batch(ctx, data, TEST_KEY, on_progress)
    if result["status"] != "ok":
        raise LabError(_("The function failed: {report}").format(report=result["body"][:500].decode(errors="replace")),
                       "FunctionFailed")
    rows = result["body"].count(b"\n") - 1
    return StepResult("test", True, ngettext("Scored {n} row: {url}.", "Scored {n} rows: {url}.", rows).format(
                          n=number(rows), url=f"s3://{result['bucket']}/{result['key']}"),
                      {"output": f"s3://{result['bucket']}/{result['key']}", "rows": rows})


STEPS = (
    Step("buckets", N_("Create the three buckets"),
         N_("`model-`, `input-` and `output-` buckets, every public access blocked, and the model copied into the "
            "model bucket."), run_buckets, snippets.buckets, plan_buckets),
    Step("policy", N_("Create the policy"),
         N_("Exactly what the function needs: write its logs, read `input-` and `model-`, write `output-`. The "
            "handout's policy names `input-bucket-…`/`output-bucket-…`, which are not the buckets you created: "
            "the ARNs here come from the same names the buckets use."), run_policy, snippets.policy, plan_policy),
    Step("role", N_("Create the role"),
         N_("A role Lambda may assume (trust policy for `lambda.amazonaws.com`) with the policy attached. "
            "AWS Academy learner labs may not create roles: they use `LabRole`."), run_role, snippets.role, plan_role),
    Step("layer", N_("Publish the layer"),
         N_("The function's libraries (onnxruntime, numpy) come from a layer for python3.12 x86_64. Up to 50 MB "
            "zipped goes directly; the function and its layers must stay within 250 MB unzipped. Layers cannot "
            "carry tags: the lab's tags ride in the version's description."), run_layer, snippets.layer, plan_layer),
    # RUNTIME, MEMORY_MB and TIMEOUT_S written out (a marked message is a literal): keep them in step with deploy.py.
    Step("function", N_("Create the function"),
         N_("python3.12 (the handout's python3.7 is end of life), 256 MB, 10 s, the layer, and the bucket names as "
            "environment variables rather than edited into the code. The handler loads the model once per "
            "container and writes only to the output bucket."), run_function, snippets.function, plan_function),
    Step("trigger", N_("Add the S3 trigger"),
         N_("S3 must be allowed to invoke the function (a resource policy for `s3.amazonaws.com`), and the input "
            "bucket must notify it on object-created events. Existing notifications on the bucket are kept."),
         run_trigger, snippets.trigger, plan_trigger),
    Step("test", N_("Upload input_batch.csv and wait"),
         N_("Uploading triggers the function; its predictions appear in the output bucket and its log in "
            "CloudWatch Logs. Run again after changing the function, or after a failed run, to test it again."),
         run_test, snippets.test, plan_test),
)
