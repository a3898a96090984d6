"""Exercise 3's checks: pure functions of its State (live, or built from the class listings)."""
from __future__ import annotations

from ...i18n import N_, _, ngettext, number
from ...lab import UNSEEN, Check, CheckResult, unseen
from .deploy import LAB_ROLE, MEMORY_MB, MODEL_KEY, RUNTIME, TEST_KEY, TIMEOUT_S, allowed_resources
from .state import State


def buckets(state: State) -> CheckResult:
    names = state.names
    title = _("Three buckets, all public access blocked")
    missing = [name for name, bucket in state.buckets if bucket is None]
    if missing:
        hint, broken = _("Create them (step 1)."), False
        if state.handout_buckets:
            hint = _("Found {found}: the lab's names are {input} and {output}.").format(
                found="/".join(s.name for s in state.handout_buckets), input=names.input_bucket,
                output=names.output_bucket)
            broken = True  # the handout's names: the lab's policy, trigger and function all miss them
        return CheckResult("buckets", title, False, _("Missing: {names}.").format(names=", ".join(missing)), hint,
                           broken=broken)
    if any(bucket.private is UNSEEN for _name, bucket in state.buckets):
        return unseen("buckets", title)
    open_ = [name for name, bucket in state.buckets if not bucket.private]
    if open_:
        return CheckResult("buckets", title, False,
                           _("Public access not fully blocked on {names}.").format(names=", ".join(open_)),
                           _("Turn on all four Block Public Access settings (step 1 does it)."))
    return CheckResult("buckets", title, True, _("model-, input- and output- buckets exist, all private."))


def model(state: State) -> CheckResult:
    name = state.names.model_bucket
    title = _("model.onnx is in the model bucket")
    if state.model is UNSEEN:
        return unseen("model", title)
    if state.model is None:
        return CheckResult("model", title, False, _("No {key} in {bucket}.").format(key=MODEL_KEY, bucket=name),
                           _("Upload the model.onnx you downloaded in exercise 2 (step 1 copies it)."))
    return CheckResult("model", title, True, _("{key}: {size} bytes.").format(
        key=MODEL_KEY, size=number(state.model.size)))


def policy(state: State) -> CheckResult:
    names = state.names
    title = _("The policy allows exactly the lab's buckets")
    if state.uses_lab_role:
        return CheckResult("policy", title, True,
                           _("Using {role}: its permissions are set by the learner lab.").format(role=LAB_ROLE))
    if state.policy is None:
        return CheckResult("policy", title, False, _("No policy {name}.").format(name=names.lambda_policy),
                           _("Create it (step 2)."))
    if state.policy.document is UNSEEN:
        return unseen("policy", title)
    document = state.policy.document
    reads, writes = allowed_resources(document, "s3:GetObject"), allowed_resources(document, "s3:PutObject")
    problems = []
    no_read, no_write = _("no read on {bucket}"), _("no write on {bucket}")
    for bucket, granted, missing in ((names.input_bucket, reads, no_read), (names.model_bucket, reads, no_read),
                                     (names.output_bucket, writes, no_write)):
        if f"arn:aws:s3:::{bucket}/*" not in granted and "*" not in granted:
            problems.append(missing.format(bucket=bucket))
    if problems:
        handout = any("-bucket-" in r for r in reads | writes)
        hint = _("Name the buckets you created in the Resource ARNs.")
        if handout:
            hint = _("The handout's policy says {handout_input}/{handout_output}, but the buckets are "
                     "{input}/{output}: the function would be denied. Step 2 writes the right ARNs.").format(
                         handout_input=names.handout_input_bucket, handout_output=names.handout_output_bucket,
                         input=names.input_bucket, output=names.output_bucket)
        return CheckResult("policy", title, False, "; ".join(problems) + ".", hint, broken=handout)
    return CheckResult("policy", title, True, _("Reads input and model, writes output, writes logs."))


def role(state: State) -> CheckResult:
    names = state.names
    title = _("The role is trusted by Lambda and has the policy")
    name = LAB_ROLE if state.uses_lab_role else names.lambda_role
    current = state.role_in_use
    if current is UNSEEN:
        # The class view sees LabRole only through the function: Lambda accepted it, so Lambda may assume it.
        return CheckResult("role", title, True, _("The function runs with {role}.").format(role=LAB_ROLE))
    if current is None:
        return CheckResult("role", title, False, _("No role {name}.").format(name=name), _("Create it (step 3)."))
    if not current.trusts_lambda:
        return CheckResult("role", title, False, _("{name} does not trust lambda.amazonaws.com.").format(name=name),
                           _("Choose Lambda as the trusted service when you create the role."), broken=True)
    if not state.uses_lab_role:
        if current.attached is UNSEEN:
            return unseen("role", title)
        if not any(arn.rsplit("/", 1)[-1] == names.lambda_policy for arn in current.attached):
            return CheckResult("role", title, False, _("{name} is not attached.").format(name=names.lambda_policy),
                               _("Attach the policy to the role (step 3)."))
    return CheckResult("role", title, True, _("{name} is ready.").format(name=name))


def function(state: State) -> CheckResult:
    names = state.names
    title = _("Function {name}: {runtime}, {memory} MB, {timeout} s, layer, env").format(
        name=names.lambda_function, runtime=RUNTIME, memory=MEMORY_MB, timeout=TIMEOUT_S)
    config = state.function
    if config is None:
        return CheckResult("function", title, False, _("No such function."), _("Create it (step 5)."))
    problems, hints, broken = [], [], False
    if config.runtime != RUNTIME:
        problems.append(_("runtime {runtime}").format(runtime=config.runtime))
        hints.append(_("python3.7 (the handout's) is end of life: use {runtime}.").format(runtime=RUNTIME))
        broken = True  # an end-of-life runtime cannot be created or updated, and the layer is built for 3.12
    if config.memory_mb < MEMORY_MB:
        problems.append(_("{memory} MB").format(memory=config.memory_mb))
        hints.append(_("Give it {memory} MB: the model does not fit in 128 MB.").format(memory=MEMORY_MB))
    if config.timeout_s < TIMEOUT_S:
        problems.append(_("timeout {timeout} s").format(timeout=config.timeout_s))
        hints.append(_("Raise the timeout to {timeout} s.").format(timeout=TIMEOUT_S))
    if not any(f":layer:{names.lambda_layer}:" in arn for arn in config.layers):
        problems.append(_("no layer"))
        hints.append(_("Attach {layer} (step 4 publishes it, step 5 attaches it).").format(layer=names.lambda_layer))
    output = config.environment.get("OUTPUT_BUCKET")
    if output != names.output_bucket:
        problems.append(f"OUTPUT_BUCKET={output}")
        hints.append(_("Predictions go to {bucket}, not the model bucket (the handout's mistake).").format(
            bucket=names.output_bucket))
        broken = broken or output == names.model_bucket
    if config.failed:
        problems.append(_("state {state} ({reason})").format(state=config.state, reason=config.state_reason)
                        if config.state_reason else _("state {state}").format(state=config.state))
        hints.append(_("Lambda could not set it up: see the reason, fix it and run step 5 again."))
        broken = True
    if problems:
        return CheckResult("function", title, False, ", ".join(problems) + ".", " ".join(hints), broken=broken)
    return CheckResult("function", title, True, _("{runtime}, {memory} MB, {timeout} s, layer attached.").format(
        runtime=RUNTIME, memory=config.memory_mb, timeout=config.timeout_s))


def trigger(state: State) -> CheckResult:
    names = state.names
    title = _("Uploads to {bucket} trigger the function").format(bucket=names.input_bucket)
    config = state.function
    if config is None:
        return CheckResult("trigger", title, False, _("No function yet."), _("Create the function first (step 5)."))
    others = [(name, b) for name, b in state.buckets if name != names.input_bucket and b is not None]
    if any(b.lambda_notifications is UNSEEN for _name, b in others) or (
            state.input_bucket is not None and state.input_bucket.lambda_notifications is UNSEEN):
        return unseen("trigger", title)
    for name, bucket in others:
        if any(n.function_arn == config.arn for n in bucket.lambda_notifications):
            return CheckResult("trigger", title, False, _("The trigger is on {bucket}.").format(bucket=name),
                               _("Put it on {bucket}: on the output bucket every result would trigger the function "
                                 "again, forever.").format(bucket=names.input_bucket), broken=True)
    if state.input_bucket is None:
        return CheckResult("trigger", title, False, _("No bucket {name}.").format(name=names.input_bucket),
                           _("Create it (step 1)."))
    if not any(n.function_arn == config.arn and any(e.startswith("s3:ObjectCreated") for e in n.events)
               for n in state.input_bucket.lambda_notifications):
        return CheckResult("trigger", title, False,
                           _("{bucket} has no object-created notification for the function.").format(
                               bucket=names.input_bucket),
                           _("Add the S3 trigger (step 6)."))
    if config.s3_may_invoke is UNSEEN:
        return unseen("trigger", title)
    if not config.s3_may_invoke:
        return CheckResult("trigger", title, False, _("S3 is not allowed to invoke the function."),
                           _("Add the permission for s3.amazonaws.com (step 6)."))
    return CheckResult("trigger", title, True, _("Object-created events on the input bucket invoke the function."))


def predictions(state: State) -> CheckResult:
    names = state.names
    title = _("Predictions are in the output bucket")
    if state.model_strays is UNSEEN:
        return unseen("predictions", title)
    if state.model_strays:
        return CheckResult("predictions", title, False, _("Found {key} in {bucket}.").format(
                               key=state.model_strays[0], bucket=names.model_bucket),
                           _("The handout's handler writes to the model bucket: write to OUTPUT_BUCKET."), broken=True)
    if state.outputs is UNSEEN:
        return unseen("predictions", title)
    outputs = [o for o in state.outputs if not o.key.startswith("errors/")]
    if not outputs:
        return CheckResult("predictions", title, False,
                           _("Nothing in {bucket} yet.").format(bucket=names.output_bucket),
                           _("Upload {key} to {bucket} (step 7) and wait a few seconds.").format(
                               key=TEST_KEY, bucket=names.input_bucket))
    newest = max(outputs, key=lambda o: o.last_modified)
    return CheckResult("predictions", title, True, ngettext("{n} output file, newest {key}.",
                                                            "{n} output files, newest {key}.", len(outputs)).format(
        n=number(len(outputs)), key=newest.key))


def logs(state: State) -> CheckResult:
    group = state.names.lambda_log_group
    title = _("The run is in CloudWatch Logs")
    runs = state.runs
    if runs is UNSEEN:
        # The class view sees the group's stored bytes (AWS updates them with a delay): bytes mean it has logged.
        if state.log_group is not None and state.log_group.stored_bytes > 0:
            return CheckResult("logs", title, True, _("The function has logged ({size} bytes).").format(
                size=number(state.log_group.stored_bytes)))
        return unseen("logs", title)
    if not runs.count:
        return CheckResult("logs", title, False, _("No invocations logged in {group}.").format(group=group),
                           _("The function has not run yet, or its role may not write logs (logs:* in the policy)."))
    count = ngettext("{n} invocation", "{n} invocations", runs.count).format(n=number(runs.count))
    if runs.latest_ms:
        ms = number(runs.latest_ms, 0)
        latest = (_("the latest failed in {ms} ms") if runs.latest_failed
                  else _("the latest succeeded in {ms} ms")).format(ms=ms)
    else:
        latest = _("the latest failed") if runs.latest_failed else _("the latest succeeded")
    return CheckResult("logs", title, True, _("{invocations}; {latest}.").format(invocations=count, latest=latest))


CHECKS = (Check("buckets", N_("Buckets"), buckets), Check("model", N_("Model"), model),
          Check("policy", N_("Policy"), policy), Check("role", N_("Role"), role),
          Check("function", N_("Function"), function), Check("trigger", N_("Trigger"), trigger),
          Check("predictions", N_("Predictions"), predictions), Check("logs", N_("Logs"), logs))
