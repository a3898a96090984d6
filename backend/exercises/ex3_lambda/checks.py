"""Exercise 3's checks: pure functions of its State (live, or built from the class listings)."""
from __future__ import annotations

from ...lab import UNSEEN, Check, CheckResult, unseen
from .deploy import LAB_ROLE, MEMORY_MB, MODEL_KEY, RUNTIME, TEST_KEY, TIMEOUT_S, allowed_resources
from .state import State


def buckets(state: State) -> CheckResult:
    names = state.names
    title = "Three buckets, all public access blocked"
    missing = [name for name, bucket in state.buckets if bucket is None]
    if missing:
        hint, broken = "Create them (step 1).", False
        if state.handout_buckets:
            hint = (f"Found {'/'.join(s.name for s in state.handout_buckets)}: the lab's names are {names.input_bucket} and "
                    f"{names.output_bucket}.")
            broken = True  # the handout's names: the lab's policy, trigger and function all miss them
        return CheckResult("buckets", title, False, f"Missing: {', '.join(missing)}.", hint, broken=broken)
    if any(bucket.private is UNSEEN for _, bucket in state.buckets):
        return unseen("buckets", title)
    open_ = [name for name, bucket in state.buckets if not bucket.private]
    if open_:
        return CheckResult("buckets", title, False, f"Public access not fully blocked on {', '.join(open_)}.",
                           "Turn on all four Block Public Access settings (step 1 does it).")
    return CheckResult("buckets", title, True, "model-, input- and output- buckets exist, all private.")


def model(state: State) -> CheckResult:
    name = state.names.model_bucket
    title = "model.onnx is in the model bucket"
    if state.model is UNSEEN:
        return unseen("model", title)
    if state.model is None:
        return CheckResult("model", title, False, f"No {MODEL_KEY} in {name}.",
                           "Upload the model.onnx you downloaded in exercise 2 (step 1 copies it).")
    return CheckResult("model", title, True, f"{MODEL_KEY}: {state.model.size:,} bytes.")


def policy(state: State) -> CheckResult:
    names = state.names
    title = "The policy allows exactly the lab's buckets"
    if state.uses_lab_role:
        return CheckResult("policy", title, True, f"Using {LAB_ROLE}: its permissions are set by the learner lab.")
    if state.policy is None:
        return CheckResult("policy", title, False, f"No policy {names.lambda_policy}.", "Create it (step 2).")
    if state.policy.document is UNSEEN:
        return unseen("policy", title)
    document = state.policy.document
    reads, writes = allowed_resources(document, "s3:GetObject"), allowed_resources(document, "s3:PutObject")
    problems = []
    for bucket, granted, verb in ((names.input_bucket, reads, "read"), (names.model_bucket, reads, "read"),
                                  (names.output_bucket, writes, "write")):
        if f"arn:aws:s3:::{bucket}/*" not in granted and "*" not in granted:
            problems.append(f"no {verb} on {bucket}")
    if problems:
        handout = any("-bucket-" in r for r in reads | writes)
        hint = "Name the buckets you created in the Resource ARNs."
        if handout:
            hint = (f"The handout's policy says {names.handout_input_bucket}/{names.handout_output_bucket}, but the "
                    f"buckets are {names.input_bucket}/{names.output_bucket}: the function would be denied. Step 2 "
                    "writes the right ARNs.")
        return CheckResult("policy", title, False, "; ".join(problems) + ".", hint, broken=handout)
    return CheckResult("policy", title, True, "Reads input and model, writes output, writes logs.")


def role(state: State) -> CheckResult:
    names = state.names
    title = "The role is trusted by Lambda and has the policy"
    name = LAB_ROLE if state.uses_lab_role else names.lambda_role
    current = state.role_in_use
    if current is UNSEEN:
        # The class view sees LabRole only through the function: Lambda accepted it, so Lambda may assume it.
        return CheckResult("role", title, True, f"The function runs with {LAB_ROLE}.")
    if current is None:
        return CheckResult("role", title, False, f"No role {name}.", "Create it (step 3).")
    if not current.trusts_lambda:
        return CheckResult("role", title, False, f"{name} does not trust lambda.amazonaws.com.",
                           "Choose Lambda as the trusted service when you create the role.", broken=True)
    if not state.uses_lab_role:
        if current.attached is UNSEEN:
            return unseen("role", title)
        if not any(arn.rsplit("/", 1)[-1] == names.lambda_policy for arn in current.attached):
            return CheckResult("role", title, False, f"{names.lambda_policy} is not attached.",
                               "Attach the policy to the role (step 3).")
    return CheckResult("role", title, True, f"{name} is ready.")


def function(state: State) -> CheckResult:
    names = state.names
    title = f"Function {names.lambda_function}: {RUNTIME}, {MEMORY_MB} MB, {TIMEOUT_S} s, layer, env"
    config = state.function
    if config is None:
        return CheckResult("function", title, False, "No such function.", "Create it (step 5).")
    problems, hints, broken = [], [], False
    if config.runtime != RUNTIME:
        problems.append(f"runtime {config.runtime}")
        hints.append(f"python3.7 (the handout's) is end of life: use {RUNTIME}.")
        broken = True  # an end-of-life runtime cannot be created or updated, and the layer is built for 3.12
    if config.memory_mb < MEMORY_MB:
        problems.append(f"{config.memory_mb} MB")
        hints.append(f"Give it {MEMORY_MB} MB: the model does not fit in 128 MB.")
    if config.timeout_s < TIMEOUT_S:
        problems.append(f"timeout {config.timeout_s} s")
        hints.append(f"Raise the timeout to {TIMEOUT_S} s.")
    if not any(f":layer:{names.lambda_layer}:" in arn for arn in config.layers):
        problems.append("no layer")
        hints.append(f"Attach {names.lambda_layer} (step 4 publishes it, step 5 attaches it).")
    output = config.environment.get("OUTPUT_BUCKET")
    if output != names.output_bucket:
        problems.append(f"OUTPUT_BUCKET={output}")
        hints.append(f"Predictions go to {names.output_bucket}, not the model bucket (the handout's mistake).")
        broken = broken or output == names.model_bucket
    if config.failed:
        problems.append(f"state {config.state}" + (f" ({config.state_reason})" if config.state_reason else ""))
        hints.append("Lambda could not set it up: see the reason, fix it and run step 5 again.")
        broken = True
    if problems:
        return CheckResult("function", title, False, ", ".join(problems) + ".", " ".join(hints), broken=broken)
    return CheckResult("function", title, True,
                       f"{RUNTIME}, {config.memory_mb} MB, {config.timeout_s} s, layer attached.")


def trigger(state: State) -> CheckResult:
    names = state.names
    title = f"Uploads to {names.input_bucket} trigger the function"
    config = state.function
    if config is None:
        return CheckResult("trigger", title, False, "No function yet.", "Create the function first (step 5).")
    others = [(name, b) for name, b in state.buckets if name != names.input_bucket and b is not None]
    if any(b.lambda_notifications is UNSEEN for _, b in others) or (
            state.input_bucket is not None and state.input_bucket.lambda_notifications is UNSEEN):
        return unseen("trigger", title)
    for name, bucket in others:
        if any(n.function_arn == config.arn for n in bucket.lambda_notifications):
            return CheckResult("trigger", title, False, f"The trigger is on {name}.",
                               f"Put it on {names.input_bucket}: on the output bucket every result would trigger "
                               "the function again, forever.", broken=True)
    if state.input_bucket is None:
        return CheckResult("trigger", title, False, f"No bucket {names.input_bucket}.", "Create it (step 1).")
    if not any(n.function_arn == config.arn and any(e.startswith("s3:ObjectCreated") for e in n.events)
               for n in state.input_bucket.lambda_notifications):
        return CheckResult("trigger", title, False,
                           f"{names.input_bucket} has no object-created notification for the function.",
                           "Add the S3 trigger (step 6).")
    if config.s3_may_invoke is UNSEEN:
        return unseen("trigger", title)
    if not config.s3_may_invoke:
        return CheckResult("trigger", title, False, "S3 is not allowed to invoke the function.",
                           "Add the permission for s3.amazonaws.com (step 6).")
    return CheckResult("trigger", title, True, "Object-created events on the input bucket invoke the function.")


def predictions(state: State) -> CheckResult:
    names = state.names
    title = "Predictions are in the output bucket"
    if state.model_strays is UNSEEN:
        return unseen("predictions", title)
    if state.model_strays:
        return CheckResult("predictions", title, False, f"Found {state.model_strays[0]} in {names.model_bucket}.",
                           "The handout's handler writes to the model bucket: write to OUTPUT_BUCKET.", broken=True)
    if state.outputs is UNSEEN:
        return unseen("predictions", title)
    outputs = [o for o in state.outputs if not o.key.startswith("errors/")]
    if not outputs:
        return CheckResult("predictions", title, False, f"Nothing in {names.output_bucket} yet.",
                           f"Upload {TEST_KEY} to {names.input_bucket} (step 7) and wait a few seconds.")
    newest = max(outputs, key=lambda o: o.last_modified)
    return CheckResult("predictions", title, True, f"{len(outputs)} output file(s), newest {newest.key}.")


def logs(state: State) -> CheckResult:
    group = state.names.lambda_log_group
    title = "The run is in CloudWatch Logs"
    runs = state.runs
    if runs is UNSEEN:
        # The class view sees the group's stored bytes (AWS updates them with a delay): bytes mean it has logged.
        if state.log_group is not None and state.log_group.stored_bytes > 0:
            return CheckResult("logs", title, True, f"The function has logged ({state.log_group.stored_bytes:,} bytes).")
        return unseen("logs", title)
    if not runs.count:
        return CheckResult("logs", title, False, f"No invocations logged in {group}.",
                           "The function has not run yet, or its role may not write logs (logs:* in the policy).")
    outcome = "failed" if runs.latest_failed else "succeeded"
    return CheckResult("logs", title, True, f"{runs.count} invocation(s); the latest {outcome}"
                       + (f" in {runs.latest_ms:.0f} ms" if runs.latest_ms else "") + ".")


CHECKS = (Check("buckets", "Buckets", buckets), Check("model", "Model", model),
          Check("policy", "Policy", policy), Check("role", "Role", role),
          Check("function", "Function", function), Check("trigger", "Trigger", trigger),
          Check("predictions", "Predictions", predictions), Check("logs", "Logs", logs))
