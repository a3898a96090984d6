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
    present = [bucket for _, bucket in state.buckets if bucket is not None]
    adopt = [s.name for s in _claim_all(ctx, [b.seen for b in present])]
    changes = []
    if adopt:
        changes.append(f"adopt and tag {', '.join(adopt)} (made without the lab's tags)")
    retag = [b.seen.name for b in present if b.seen.name not in adopt and _lacks_tags(ctx, b.seen)]
    if retag:
        changes.append(f"complete the lab's tags on {', '.join(retag)}")
    open_ = [b.seen.name for b in present if b.private is False]
    if open_:
        changes.append(f"block public access on {', '.join(open_)}")
    if state.model is None:
        changes.append(f"copy {MODEL_KEY} from the course bucket into {state.names.model_bucket}")
    elif state.course_model and state.model and state.model.etag != state.course_model.etag:
        changes.append(f"{MODEL_KEY} in {state.names.model_bucket} differs from the course's: copy it again")
    if missing:
        return create(_sentence([f"create {', '.join(missing)} in {state.region} (public access blocked, tagged "
                                 f"for {ctx.svc})"] + changes))
    if changes:
        return update(_sentence(changes))
    return nothing(f"The three buckets exist, private and yours, and {MODEL_KEY} is the course's.")


def _copy_model(ctx: LabContext) -> bool:
    course = s3.head_object(ctx.aws, COURSE_BUCKET, MODEL_KEY)
    if course is None:
        raise LabError(f"{MODEL_KEY} is missing from {COURSE_BUCKET}: ask your instructor to publish the course files.",
                       "MissingCourseFile")
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
        summary = "The three buckets exist with public access blocked, and model.onnx is in place: nothing to do."
    else:
        summary = (f"Created {', '.join(created)}" if created else "Buckets brought in line") + \
                  (f"; copied model.onnx to {names.model_bucket}." if model_changed else ".")
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
        return nothing(f"Uses {LAB_ROLE}: the learner lab sets its permissions, so no policy is created.")
    if state.policy is None:
        return create(f"Create policy {name}: write logs, read {state.names.input_bucket} and "
                      f"{state.names.model_bucket}, write {state.names.output_bucket}.")
    changes = []
    if claim(ctx.svc, state.policy.seen) == "adopt":
        changes.append(f"policy {name} exists without the lab's tags: adopt it and tag it")
    elif _lacks_tags(ctx, state.policy.seen):
        changes.append(f"complete the lab's tags on {name}")
    if _canonical(state.policy.document) != _canonical(policy_document(state.names)):
        changes.append(f"{name} allows something else than the lab's buckets: make the lab's document its default "
                       "version")
    if changes:
        return update(_sentence(changes))
    return nothing(f"Policy {name} allows exactly what the function needs and is yours.")


def run_policy(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    names = ctx.names
    if USE_LAB_ROLE.get(ctx):
        return StepResult("policy", False, f"Using {LAB_ROLE}: its permissions are set by the learner lab; no "
                                           "policy to create.", {})
    current = observe_policy(ctx)
    adopted = current is not None and claim(ctx.svc, current.seen) == "adopt"
    result = iam.ensure_policy(ctx.aws, names.lambda_policy, policy_document(names), _tags(ctx),
                               description=f"Batch Lambda of {ctx.svc}: logs, read input/model, write output")
    tagged = current is not None and _lacks_tags(ctx, current.seen)
    if tagged:
        iam.tag_policy(ctx.aws, result.arn, _tags(ctx))
    if result.created:
        summary = f"Created policy {result.name}."
    elif result.updated:
        summary = f"Policy {result.name} had a different document: set the correct one as its default version."
    elif tagged:
        summary = "" if adopted else f"Policy {result.name} was missing some of the lab's tags: tagged."
    else:
        summary = f"Policy {result.name} already allows exactly what the function needs: nothing to do."
    if adopted:
        summary = f"{summary} {adopted_note(current.seen)}".strip()
    return StepResult("policy", result.created or result.updated or tagged, summary,
                      {"arn": result.arn, "adopted": adopted})


# ---- role -----------------------------------------------------------------------------------

def plan_role(ctx: LabContext, state: State) -> Decision:
    names = state.names
    if USE_LAB_ROLE.get(ctx):
        if state.lab_role is None:
            return nothing(f"This account has no {LAB_ROLE}: this step will stop (untick 'Use LabRole').")
        return nothing(f"Uses the learner lab's {LAB_ROLE} (it may not be changed).")
    role = state.role
    if role is None:
        return create(f"Create role {names.lambda_role}, trusted by Lambda, with {names.lambda_policy} attached.")
    changes = []
    if claim(ctx.svc, role.seen) == "adopt":
        changes.append(f"role {names.lambda_role} exists without the lab's tags: adopt it and tag it")
    elif _lacks_tags(ctx, role.seen):
        changes.append(f"complete the lab's tags on {names.lambda_role}")
    if not role.trusts_lambda:
        changes.append(f"let {LAMBDA_SERVICE} assume it (its trust policy)")
    if not any(arn.rsplit("/", 1)[-1] == names.lambda_policy for arn in role.attached):
        changes.append(f"attach {names.lambda_policy}")
    if changes:
        return update(_sentence(changes))
    return nothing(f"Role {names.lambda_role} is trusted by Lambda, has {names.lambda_policy} and is yours.")


def run_role(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    names = ctx.names
    if USE_LAB_ROLE.get(ctx):
        role = iam.learner_lab_role(ctx.aws, LAMBDA_SERVICE)
        return StepResult("role", False, f"Using the learner lab's {LAB_ROLE} (it may not be changed).",
                          {"arn": role["Arn"]})
    current = observe_role(ctx, names.lambda_role)
    adopted = current is not None and claim(ctx.svc, current.seen) == "adopt"
    policy_arn = iam.policy_arn(ctx.aws, names.lambda_policy)
    if iam.get_policy(ctx.aws, policy_arn) is None:
        raise LabError(f"Policy {names.lambda_policy} does not exist yet: run the policy step first.", "MissingPolicy")
    try:
        result = iam.ensure_role(ctx.aws, names.lambda_role, LAMBDA_SERVICE, _tags(ctx),
                                 description=f"Batch Lambda of {ctx.svc}")
    except ClientError as err:
        if error_code(err) in ("AccessDenied", "AccessDeniedException"):
            raise LabError("This account may not create roles (an AWS Academy learner lab?): tick 'Use LabRole' "
                           "and run the step again.", "CannotCreateRole") from err
        raise
    tagged = current is not None and _lacks_tags(ctx, current.seen)
    if tagged:
        iam.tag_role(ctx.aws, names.lambda_role, _tags(ctx))
    trust_fixed = current is not None and not current.trusts_lambda
    attached = iam.ensure_policy_attached(ctx.aws, names.lambda_role, policy_arn)
    if result.created:
        summary = f"Created role {names.lambda_role}, trusted by Lambda, with {names.lambda_policy} attached."
    elif attached or trust_fixed or tagged:
        done = [what for what, did in ((f"attached {names.lambda_policy}", attached),
                                       (f"let {LAMBDA_SERVICE} assume it", trust_fixed),
                                       ("tagged it", tagged and not adopted)) if did]
        summary = f"Role {names.lambda_role} existed: {', '.join(done)}." if done else ""
    else:
        summary = f"Role {names.lambda_role} exists with its policy attached: nothing to do."
    if adopted:
        summary = f"{summary} {adopted_note(current.seen)}".strip()
    return StepResult("role", result.created or attached or trust_fixed or tagged, summary,
                      {"arn": result.arn, "adopted": adopted})


# ---- layer ----------------------------------------------------------------------------------

def plan_layer(ctx: LabContext, state: State) -> Decision:
    names = state.names
    layer = state.layer
    if layer is None:
        return create(f"Publish layer {names.lambda_layer} from the course's {LAYER_KEY} (onnxruntime, numpy).")
    changes = []
    if claim(ctx.svc, layer.seen) == "adopt":
        changes.append(f"layer {names.lambda_layer} carries no lab tags in its description (made by hand?): "
                       "publish a version whose description carries them")
    elif layer.description != names.lambda_layer_description:
        changes.append("its newest version's description lacks the lab's tags: publish a version that has them")
    if state.course_layer_sha256 is None:
        return nothing(f"Layer {names.lambda_layer} version {layer.version} exists; the course bucket has no "
                       f"{LAYER_KEY} to compare it with.")
    if layer.code_sha256 != state.course_layer_sha256:
        changes.append(f"version {layer.version} differs from the course's {LAYER_KEY}: publish it as a new version")
    if changes:
        return update(_sentence(changes))
    return nothing(f"Layer {names.lambda_layer} version {layer.version} holds the course's {LAYER_KEY}.")


def run_layer(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    names = ctx.names
    head = s3.head_object(ctx.aws, COURSE_BUCKET, LAYER_KEY)
    if head is None:
        raise LabError(f"{LAYER_KEY} is missing from {COURSE_BUCKET}.", "MissingCourseFile")
    if not s3.bucket_exists(ctx.aws, names.model_bucket):
        raise LabError(f"Bucket {names.model_bucket} does not exist yet: run the buckets step first.", "MissingBucket")
    current = observe_layer(ctx)
    adopted = current is not None and claim(ctx.svc, current.seen) == "adopt"
    on_progress(f"Reading {LAYER_KEY} ({head['ContentLength'] / 2**20:.1f} MB) from {COURSE_BUCKET}…")
    data = s3.read_object(ctx.aws, COURSE_BUCKET, LAYER_KEY)
    spec = lambda_.FunctionSpec(name="-", role_arn="-", zip_bytes=data, handler="-")
    remember_sha256(course_layer_etag(head), spec.code_sha256)  # later plans compare without downloading it
    result = lambda_.ensure_layer(ctx.aws, names.lambda_layer, data, RUNTIME,
                                  description=names.lambda_layer_description,
                                  staging=(names.model_bucket, f"layers/{LAYER_KEY}"))
    size = f"{len(data) / 2**20:.1f} MB"
    if result.created:
        summary = (f"Published {names.lambda_layer} version {result.version} ({size}"
                   + (", through S3: over the 50 MB direct upload limit" if result.via_s3 else "") + ").")
    else:
        summary = f"Layer {names.lambda_layer} version {result.version} already holds this zip: nothing to do."
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
        out.append(f"runtime {function.runtime} → {RUNTIME}")
    if function.handler != HANDLER:
        out.append(f"handler {function.handler} → {HANDLER}")
    if function.memory_mb != MEMORY_MB:
        out.append(f"memory {function.memory_mb} → {MEMORY_MB} MB")
    if function.timeout_s != TIMEOUT_S:
        out.append(f"timeout {function.timeout_s} → {TIMEOUT_S} s")
    env = function_environment(ctx)
    changed = sorted(k for k in env.keys() | function.environment.keys() if env.get(k) != function.environment.get(k))
    if changed:
        out.append("environment " + ", ".join(f"{k}={env.get(k, '(removed)')}" for k in changed))
    if state.layer is not None and function.layers != (state.layer.version_arn,):
        out.append(f"layers → {names.lambda_layer} version {state.layer.version}")
    role = state.lab_role if USE_LAB_ROLE.get(ctx) else state.role
    if isinstance(role, RoleState) and function.role_arn != role.seen.id:
        out.append(f"role → {role_name(ctx)}")
    if function.code_sha256 != handler_sha256():
        out.append("code (lambda_code/ changed since it was deployed)")
    return out


def plan_function(ctx: LabContext, state: State) -> Decision:
    names = state.names
    function = state.function
    group = state.log_group
    adopt_group = group is not None and claim(ctx.svc, group.seen) == "adopt"
    if function is None:
        what = (f"adopt and tag its log group {names.lambda_log_group} (it exists without the lab's tags)" if adopt_group
                else f"its log group tagged for {ctx.svc}")
        return create(f"Create function {names.lambda_function} ({RUNTIME}, {MEMORY_MB} MB, {TIMEOUT_S} s) with "
                      f"layer {names.lambda_layer} and role {role_name(ctx)}; {what}.")
    changes = []
    if claim(ctx.svc, function.seen) == "adopt":
        changes.append(f"function {names.lambda_function} exists without the lab's tags: adopt it and tag it")
    elif _lacks_tags(ctx, function.seen):
        changes.append(f"complete the lab's tags on {names.lambda_function}")
    diffs = differences(ctx, state, function)
    if diffs:
        changes.append("bring in line: " + ", ".join(diffs))
    if group is None:
        changes.append(f"create its log group {names.lambda_log_group}, tagged")
    elif adopt_group:
        changes.append(f"log group {names.lambda_log_group} exists without the lab's tags: adopt it and tag it")
    elif _lacks_tags(ctx, group.seen):
        changes.append(f"complete the lab's tags on {names.lambda_log_group}")
    if changes:
        return update(_sentence(changes))
    return nothing(f"Function {names.lambda_function} is deployed as the step would deploy it, and yours.")


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
        summary = f"Created function {spec.name} ({RUNTIME}, {MEMORY_MB} MB, {TIMEOUT_S} s) with its layer."
    elif result.updated:
        summary = f"Function {spec.name} existed: updated its {' and '.join(result.updated)}."
    elif retagged or group_created or group_tagged:
        summary = f"Function {spec.name} is up to date" + (
            ": created its tagged log group." if group_created else "; tagged what lacked the lab's tags.")
    else:
        summary = f"Function {spec.name} is up to date: nothing to do."
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
    what = f"let S3 invoke {names.lambda_function} and notify it of every object created in {names.input_bucket}"
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
        changes.append(f"let S3 invoke {names.lambda_function} for {names.input_bucket}")
    if not notified:
        changes.append(f"notify it of objects created in {names.input_bucket} (other notifications are kept)")
    if wrong:
        changes.append(f"remove its trigger on {', '.join(wrong)} (every result would trigger it again)")
    if changes:
        return update(_sentence(changes))
    return nothing(f"Objects created in {names.input_bucket} already invoke {names.lambda_function}.")


def run_trigger(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    names = ctx.names
    function = observe_function(ctx)
    if function is None:
        raise LabError(f"Function {names.lambda_function} does not exist yet: run the function step first.",
                       "MissingFunction")
    bucket = s3.seen_bucket(ctx.aws, names.input_bucket)
    if bucket is None:
        raise LabError(f"Bucket {names.input_bucket} does not exist yet: run the buckets step first.", "MissingBucket")
    others = [s3.seen_bucket(ctx.aws, b) for b in (names.output_bucket, names.model_bucket)]
    _claim_all(ctx, [function.seen, bucket, *others])  # writes only into the student's own (or untagged) buckets
    permitted = lambda_.ensure_s3_permission(ctx.aws, names.lambda_function, names.input_bucket)
    notified = s3.ensure_lambda_notification(ctx.aws, names.input_bucket, function.arn, config_id=names.lambda_function)
    removed = [b.name for b in others if b is not None and s3.remove_lambda_notification(ctx.aws, b.name, function.arn)]
    if permitted or notified:
        summary = (f"Uploads to {names.input_bucket} now trigger {names.lambda_function}"
                   + (" (S3 may invoke it; notification added beside any existing ones)." if notified else "."))
    else:
        summary = f"{names.input_bucket} already triggers {names.lambda_function}: nothing to do."
    if removed:
        summary += f" Removed its trigger on {', '.join(removed)} (each result would have triggered it again)."
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
    upload = f"upload {TEST_KEY} to {names.input_bucket} and wait for its predictions in {names.output_bucket}"
    test = state.test
    if state.function is None or test is None or test.uploaded is None:
        return create(_sentence([upload]))
    result = test.result
    if result is None or result.last_modified < _second(test.uploaded.last_modified):
        return create(_sentence([f"no result yet for the {TEST_KEY} in {names.input_bucket}: {upload}"]))
    if state.function.last_modified and result.last_modified < _second(state.function.last_modified):
        return update(_sentence([f"the function changed after {TEST_KEY} was last scored: {upload} again"]))
    if test.result_failed:
        return update(_sentence([f"the last run failed (s3://{names.output_bucket}/{result.key}): {upload} again"]))
    if test.course_input is not None and test.uploaded.etag != test.course_input.etag:
        return update(_sentence([f"the {TEST_KEY} in {names.input_bucket} is not the course's: {upload}"]))
    return nothing(f"s3://{names.output_bucket}/{result.key} already scores the current {TEST_KEY} with the current "
                   "function: nothing to do (score any CSV again with 'Score a CSV' or `predict --target lambda`).")


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
        raise LabError(f"The function failed: {result['body'][:500].decode(errors='replace')}", "FunctionFailed")
    rows = result["body"].count(b"\n") - 1
    return StepResult("test", True, f"Scored {rows:,} rows: s3://{result['bucket']}/{result['key']}.",
                      {"output": f"s3://{result['bucket']}/{result['key']}", "rows": rows})


STEPS = (
    Step("buckets", "Create the three buckets",
         "`model-`, `input-` and `output-` buckets, every public access blocked, and the model copied into the "
         "model bucket.", run_buckets, snippets.buckets, plan_buckets),
    Step("policy", "Create the policy",
         "Exactly what the function needs: write its logs, read `input-` and `model-`, write `output-`. The "
         "handout's policy names `input-bucket-…`/`output-bucket-…`, which are not the buckets you created: "
         "the ARNs here come from the same names the buckets use.", run_policy, snippets.policy, plan_policy),
    Step("role", "Create the role",
         "A role Lambda may assume (trust policy for `lambda.amazonaws.com`) with the policy attached. "
         "AWS Academy learner labs may not create roles: they use `LabRole`.", run_role, snippets.role, plan_role),
    Step("layer", "Publish the layer",
         "The function's libraries (onnxruntime, numpy) come from a layer for python3.12 x86_64. Up to 50 MB "
         "zipped goes directly; the function and its layers must stay within 250 MB unzipped. Layers cannot "
         "carry tags: the lab's tags ride in the version's description.", run_layer, snippets.layer, plan_layer),
    Step("function", "Create the function",
         f"{RUNTIME} (the handout's python3.7 is end of life), {MEMORY_MB} MB, {TIMEOUT_S} s, the layer, and the "
         "bucket names as environment variables rather than edited into the code. The handler loads the model "
         "once per container and writes only to the output bucket.", run_function, snippets.function, plan_function),
    Step("trigger", "Add the S3 trigger",
         "S3 must be allowed to invoke the function (a resource policy for `s3.amazonaws.com`), and the input "
         "bucket must notify it on object-created events. Existing notifications on the bucket are kept.",
         run_trigger, snippets.trigger, plan_trigger),
    Step("test", "Upload input_batch.csv and wait",
         "Uploading triggers the function; its predictions appear in the output bucket and its log in "
         "CloudWatch Logs. Run again after changing the function, or after a failed run, to test it again.",
         run_test, snippets.test, plan_test),
)
