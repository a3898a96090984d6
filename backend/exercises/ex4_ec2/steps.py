"""Exercise 4's steps: each plans from State (create / update / none, and why) and applies.

Instance step: no live instance -> create (launch); a stopped or stopping one -> update (start it:
same disk, the container restarts by itself); a pending or running one -> none (a running one of
another type than chosen is left as it is: the reason says to terminate it to change the type).
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from ... import ec2, i18n, s3
from ...artifacts import SAMPLE_RECORD
from ...config import COURSE_BUCKET
from ...errors import LabError
from ...i18n import N_, _
from ...lab import Decision, LabContext, Progress, Step, StepResult, create, no_progress, nothing, update
from ...names import lab_tags
from ...ownership import Seen, adopted_note, claim
from . import snippets
from . import state as st
from .bundle import APP_PORT, BUNDLE_KEY, MODEL_KEY, PRESIGN_SECONDS, app_files, build_bundle, fingerprint, user_data
from .instance import call_predict, launch, launch_lock, price_note, price_per_hour, wait_for_health, waiter_delay
from .state import RECREATE_KEY, State

EXERCISE_NUMBER = 4


def _tags(ctx: LabContext) -> dict[str, str]:
    return lab_tags(ctx.svc, EXERCISE_NUMBER)


def _with_adoption(summary: str, seen: Seen | None, adopted: bool) -> str:
    return f"{adopted_note(seen)} {summary}" if adopted and seen is not None else summary


# ---- key pair ---------------------------------------------------------------------------------

def seen_key_pair(ctx: LabContext) -> tuple[Seen, str] | None:
    """The key pair as it is right now (Seen, key pair id), or None."""
    raw = ec2.get_key_pair(ctx.aws, ctx.names.key_pair)
    if raw is None:
        return None
    tags = {t["Key"]: t["Value"] for t in raw.get("Tags") or []}
    return Seen("key-pair", ctx.names.key_pair, ctx.names.key_pair, tags), raw.get("KeyPairId", "")


def plan_key_pair(ctx: LabContext, state: State) -> Decision:
    name, path = state.names.key_pair, st.key_file(ctx)
    if state.key_pair is None:
        return create(_("Create key pair {name}; its private key goes to {path} (mode 0400).").format(
            name=name, path=path))
    adopt = claim(ctx.svc, state.key_pair) == "adopt"
    if state.key_file is None:
        if RECREATE_KEY.get(ctx):
            return update(_("Key pair {name} exists but its private key is not on this machine: delete it and "
                            "create it again (option recreate_key).").format(name=name))
        return Decision("refuse", ec2.KeyFileMissing(name, path).message)
    if adopt:
        return update(_("Key pair {name} exists without the lab's tags: adopt it and tag it.").format(name=name))
    if state.key_file is not st.UNSEEN and state.key_file.mode != 0o400:
        return update(_("Make {file} readable by you only (mode 0400; it is {mode}).").format(
            file=path.name, mode=f"{state.key_file.mode:03o}"))
    return nothing(_("Key pair {name} exists and its private key is in {path}.").format(name=name, path=path))


def run_key_pair(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    name, path = ctx.names.key_pair, st.key_file(ctx)
    current = seen_key_pair(ctx)
    adopted = current is not None and claim(ctx.svc, current[0]) == "adopt"
    mode = path.stat().st_mode & 0o777 if path.is_file() else None
    result = ec2.ensure_key_pair(ctx.aws, name, path, _tags(ctx), recreate=bool(RECREATE_KEY.get(ctx)))
    adopted = adopted and not result.created
    if adopted:
        ec2.tag_resource(ctx.aws, result.key_pair_id, _tags(ctx))
    if result.created:
        summary = _("Created key pair {name}; its private key is in {path} (mode 0400, only you may read it).")
    elif mode != 0o400:
        summary = _("Key pair {name} exists; made its private key {path} readable by you only (0400).")
    else:
        summary = _("Key pair {name} exists and its private key is in {path}: nothing to do.")
    summary = summary.format(name=name, path=path)
    return StepResult("key_pair", result.created or adopted or mode != 0o400,
                      _with_adoption(summary, current[0] if current else None, adopted),
                      {"key_pair": name, "key_file": str(path), "adopted": adopted})


# ---- security group ---------------------------------------------------------------------------

def _rule_changes(ctx: LabContext, rules: frozenset[ec2.IngressRule]) -> tuple[list[ec2.IngressRule], list[ec2.IngressRule]]:
    wanted, revoke = st.wanted_rules(ctx)
    add = [r for r in wanted if ec2.IngressRule(r.port, r.cidr) not in rules]
    remove = [r for r in revoke if ec2.IngressRule(r.port, r.cidr) in rules]
    return add, remove


def _describe_changes(add: list[ec2.IngressRule], remove: list[ec2.IngressRule], done: bool = False) -> str:
    parts = []
    if add:
        opened = ", ".join(_("{port} to {cidr}").format(port=r.port, cidr=r.cidr) for r in add)
        parts.append((_("opened {rules}") if done else _("open {rules}")).format(rules=opened))
    if remove:
        closed = ", ".join(_("{port} to the whole internet").format(port=r.port) for r in remove)
        parts.append((_("closed {rules}") if done else _("close {rules}")).format(rules=closed))
    return "; ".join(parts)


def plan_security_group(ctx: LabContext, state: State) -> Decision:
    name = state.names.security_group
    try:
        wanted, _revoke = st.wanted_rules(ctx)
    except LabError as err:
        return Decision("refuse", err.message)
    if state.group is None:
        rules = ", ".join(_("TCP {port} from {cidr}").format(port=r.port, cidr=r.cidr) for r in wanted)
        return create(_("Create security group {name}: {rules}.").format(name=name, rules=rules))
    adopt = claim(ctx.svc, state.group.seen) == "adopt"
    changes = _describe_changes(*_rule_changes(ctx, state.group.rules))
    if adopt:
        if changes:
            return update(_("Security group {name} exists without the lab's tags: adopt it and tag it; "
                            "{changes}.").format(name=name, changes=changes))
        return update(_("Security group {name} exists without the lab's tags: adopt it and tag it.").format(name=name))
    if changes:
        return update(_("Security group {name}: {changes}.").format(name=name, changes=changes))
    return nothing(_("Security group {name} already lets in exactly what the lab needs.").format(name=name))


def run_security_group(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    names = ctx.names
    wanted, revoke = st.wanted_rules(ctx)
    vpc = ec2.default_vpc_id(ctx.aws)
    raw = ec2.get_security_group(ctx.aws, names.security_group, vpc)
    current = st.group_from(raw) if raw else None
    adopted = current is not None and claim(ctx.svc, current.seen) == "adopt"
    if adopted:
        ec2.tag_resource(ctx.aws, current.id, _tags(ctx))
    result = ec2.ensure_security_group(ctx.aws, names.security_group, st.group_description(ctx), vpc, wanted,
                                       _tags(ctx), revoke)
    parts = []
    if result.created:
        parts.append(_("Created security group {name} ({id})").format(name=names.security_group, id=result.group_id))
    changes = _describe_changes(list(result.added), list(result.removed), done=True)
    if changes:
        parts.append(changes)
    summary = ("; ".join(parts) + ".") if parts else \
        _("Security group {name} already lets in exactly what the lab needs: nothing to do.").format(
            name=names.security_group)
    summary = summary[0].upper() + summary[1:]
    return StepResult("security_group", result.changed or adopted,
                      _with_adoption(summary, current.seen if current else None, adopted),
                      {"group_id": result.group_id, "rules": [f"tcp {r.port} from {r.cidr}" for r in wanted],
                       "adopted": adopted})


# ---- bundle -----------------------------------------------------------------------------------

def plan_bundle(ctx: LabContext, state: State) -> Decision:
    bucket = state.names.ec2_bundle_bucket
    where = f"s3://{bucket}/{BUNDLE_KEY}"
    if state.bundle_bucket is None:
        return create(_("Create the private bucket {bucket} and upload the app bundle (ec2_app/ and {model}) "
                        "to {where}.").format(bucket=bucket, model=MODEL_KEY, where=where))
    todo = []
    if claim(ctx.svc, state.bundle_bucket) == "adopt":
        todo.append(_("bucket {bucket} exists without the lab's tags: adopt it and tag it").format(bucket=bucket))
    if state.bundle_wanted is None:
        return Decision("refuse", _("{model} is missing from {bucket}: ask your instructor to publish the course "
                                    "files.").format(model=MODEL_KEY, bucket=COURSE_BUCKET))
    if state.bundle is None:
        todo.append(_("upload the app bundle (ec2_app/ and {model}) to {where}").format(model=MODEL_KEY, where=where))
    elif state.bundle is not st.UNSEEN and not state.bundle.metadata:
        # e.g. uploaded by the step's snippet: it may well be current, but nothing says so
        todo.append(_("{where} does not record what it was built from (uploaded by hand?): upload the current "
                      "app and model").format(where=where))
    elif state.bundle is st.UNSEEN or state.bundle.metadata != state.bundle_wanted:
        todo.append(_("{where} was built from another app or model: upload the current one").format(where=where))
    if state.bundle_private is False:
        todo.append(_("block all public access to {bucket} (the instance fetches the bundle through a presigned "
                      "URL)").format(bucket=bucket))
    if todo:
        text = "; ".join(todo) + "."
        return update(text[0].upper() + text[1:])
    return nothing(_("{where} already holds this app and model.").format(where=where))


def run_bundle(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    bucket = ctx.names.ec2_bundle_bucket
    current = s3.seen_bucket(ctx.aws, bucket)
    adopted = current is not None and claim(ctx.svc, current) == "adopt"
    model = s3.head_object(ctx.aws, COURSE_BUCKET, MODEL_KEY)
    if model is None:
        raise LabError(_("{model} is missing from {bucket}: ask your instructor to publish the course "
                         "files.").format(model=MODEL_KEY, bucket=COURSE_BUCKET), "MissingCourseFile")
    made = s3.ensure_bucket(ctx.aws, bucket, tags=_tags(ctx), block_public_access=True)
    data = build_bundle(s3.read_object(ctx.aws, COURSE_BUCKET, MODEL_KEY))
    metadata = fingerprint(model["ETag"])
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    head = s3.head_object(ctx.aws, bucket, BUNDLE_KEY)
    uploaded = head is None or head["ETag"].strip('"') != md5 or dict(head.get("Metadata") or {}) != metadata
    if uploaded:
        ctx.aws.client("s3").put_object(Bucket=bucket, Key=BUNDLE_KEY, Body=data, ContentType="application/gzip",
                                        Metadata=metadata)
    where = f"s3://{bucket}/{BUNDLE_KEY}"
    if uploaded:
        summary = _("Uploaded the app bundle ({size} KB: {files}, {model}) to {where}.").format(
            size=i18n.number(len(data) / 1024, 0), files=", ".join(p.name for p in app_files()), model=MODEL_KEY,
            where=where)
    else:
        summary = _("{where} already holds this app and model: nothing to do.").format(where=where)
    return StepResult("bundle", uploaded or made.changed, _with_adoption(summary, current, adopted),
                      {"bucket": bucket, "key": BUNDLE_KEY, "size_bytes": len(data), "adopted": adopted})


# ---- instance ---------------------------------------------------------------------------------

def ubuntu_ami(ctx: LabContext) -> str:
    """Return the current Ubuntu 24.04 LTS AMI of the region (Canonical's SSM public parameter)."""
    ami = ec2.get_parameter(ctx.aws, st.UBUNTU_PARAMETER)
    if ami is None:
        raise LabError(_("The public parameter {parameter} is not available in {region}: choose another "
                         "region.").format(parameter=st.UBUNTU_PARAMETER, region=ctx.region), "NoUbuntuAmi")
    return ami


def plan_instance(ctx: LabContext, state: State) -> Decision:
    current = state.instance
    chosen = st.INSTANCE_TYPE.get(ctx)
    if current is None:
        return create(_("Launch a {type} instance {name} from Canonical's Ubuntu 24.04 AMI with your key pair, "
                        "security group and start-up script. {price}").format(
                            type=chosen, name=state.names.instance_name, price=price_note(ctx)))
    adopt = claim(ctx.svc, current.seen) == "adopt"
    prefix = _("Instance {id} exists without the lab's tags: adopt it and tag it.").format(id=current.id) \
        if adopt else ""
    if current.state in ("stopping", "stopped"):
        start = _("{id} is {state}: start it (same disk, the app comes back by itself). {price}").format(
            id=current.id, state=ec2.state_word(current.state), price=price_note(ctx))
        return update(f"{prefix} {start}".strip())
    if adopt:
        return update(prefix)
    if current.state == "pending":
        return nothing(_("{id} is starting: the step waits until it runs.").format(id=current.id))
    if current.type != chosen:
        return nothing(_("{id} runs as {type}, not {chosen}: the step leaves it as it is; terminate it (teardown) "
                         "to launch a {chosen}.").format(id=current.id, type=current.type, chosen=chosen))
    return nothing(_("{id} ({type}) is running.").format(id=current.id, type=current.type))


def _instance_details(ctx: LabContext, iid: str) -> dict[str, Any]:
    instance = ec2.get_instance(ctx.aws, iid) or {}
    return {"instance_id": iid, "instance_type": instance.get("InstanceType"), "image_id": instance.get("ImageId"),
            "public_ip": instance.get("PublicIpAddress"), "state": instance.get("State", {}).get("Name"),
            "client_token": instance.get("ClientToken"),
            "price_per_hour_usd": price_per_hour(ctx.region, instance.get("InstanceType", ""))}


def _launch_new(ctx: LabContext, on_progress: Progress) -> str:
    """Check the earlier steps' resources, then launch (once, whatever else runs now); return the instance id."""
    names, aws = ctx.names, ctx.aws
    if ec2.get_key_pair(aws, names.key_pair) is None:
        raise LabError(_("Key pair {name} does not exist yet: run step 1 first.").format(name=names.key_pair),
                       "MissingKeyPair")
    raw_group = ec2.get_security_group(aws, names.security_group, ec2.default_vpc_id(aws))
    if raw_group is None:
        raise LabError(_("Security group {name} does not exist yet: run step 2 first.").format(
            name=names.security_group), "MissingGroup")
    claim(ctx.svc, st.group_from(raw_group).seen)
    bucket = names.ec2_bundle_bucket
    if s3.head_object(aws, bucket, BUNDLE_KEY) is None:
        raise LabError(_("The app bundle is not in {bucket} yet: run step 3 first.").format(bucket=bucket),
                       "MissingBundle")
    ami = ubuntu_ami(ctx)
    url = aws.client("s3").generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": BUNDLE_KEY},
                                                  ExpiresIn=PRESIGN_SECONDS)
    itype = st.INSTANCE_TYPE.get(ctx)
    on_progress(_("Launching {type} from {ami}. {price}").format(type=itype, ami=ami, price=price_note(ctx)))
    instance = launch(ctx, image_id=ami, instance_type=itype, key_name=names.key_pair, group_id=raw_group["GroupId"],
                      user_data=user_data(url), tags={"Name": names.instance_name, **_tags(ctx)})
    return instance["InstanceId"]


def run_instance(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    aws, delay = ctx.aws, waiter_delay(ctx)
    # Look and act under the student's launch lock: a second run waits, then finds this run's instance.
    with launch_lock(ctx, on_progress):
        instances = st.lab_instances(ctx)
        current = instances[0] if instances else None
        adopted = started = False
        if current is None:
            iid = _launch_new(ctx, on_progress)
        else:
            iid = current.id
            adopted = claim(ctx.svc, current.seen) == "adopt"
            if adopted:
                ec2.tag_resource(aws, iid, _tags(ctx))
            if current.state in ("stopping", "stopped"):
                if current.state == "stopping":
                    ec2.wait_for_instance_stopped(aws, iid, on_progress, delay=delay)
                on_progress(_("{id} is stopped: starting it. {price}").format(id=iid, price=price_note(ctx)))
                ec2.start_instance(aws, iid)
                started = True
    ec2.wait_for_instance_running(aws, iid, on_progress, delay=delay)
    details = _instance_details(ctx, iid)
    if current is None:
        summary = _("Launched {id} ({type}, Ubuntu 24.04 {image}); it is running and now installs Docker and builds "
                    "the app (next step waits for it).").format(
                        id=iid, type=details["instance_type"], image=details["image_id"])
    elif started:
        summary = _("Started instance {id} again (same disk, so the app comes back by itself).").format(id=iid)
    else:
        summary = _("Instance {id} ({type}) is already running: nothing to do.").format(id=iid, type=current.type)
    return StepResult("instance", current is None or started or adopted,
                      _with_adoption(summary, current.seen if current else None, adopted), details)


# ---- the API ----------------------------------------------------------------------------------

def plan_health(ctx: LabContext, state: State) -> Decision:
    if isinstance(state.health, st.api_client.ApiCall) and state.health.status == 200:
        return nothing(_("{url} already answers.").format(url=state.health.url))
    return nothing(_("Waits for the API to answer /health (a few minutes after launch on AWS); changes nothing."))


def run_health(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    call = wait_for_health(ctx, on_progress)
    return StepResult("health", False, _("The API answers at {base} (/health in {ms} ms). Its documentation is at "
                                         "/docs.").format(base=call.url.rsplit("/health", 1)[0],
                                                          ms=i18n.number(call.latency_ms, 0)),
                      {"url": call.url, "body": call.body})


def plan_predict(ctx: LabContext, state: State) -> Decision:
    return nothing(_("Sends the sample record to /predict; changes nothing."))


def run_predict(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    call = call_predict(ctx, SAMPLE_RECORD)
    if call.status != 200:
        raise LabError(_("/predict answered {status}: {body}").format(status=call.status,
                                                                      body=json.dumps(call.body)[:300]), "ApiError")
    return StepResult("predict", False, _("Predicted {label} (probability of >50K {probability}) in {ms} ms.").format(
        label=call.body["label"], probability=i18n.number(call.body["probability"], 2),
        ms=i18n.number(call.latency_ms, 0)),
                      {"url": call.url, "request": SAMPLE_RECORD, "response": call.body,
                       "latency_ms": round(call.latency_ms, 1)})


# Step texts are catalog entries, so they name the ports and the world range as written out: keep them the
# ones the step uses.
assert (APP_PORT, st.SSH_PORT, st.WORLD) == (8000, 22, "0.0.0.0/0"), "update the step texts and their translations"

STEPS = (
    Step("key_pair", N_("Create the key pair"),
         N_("The key pair lets you SSH into the instance. AWS shows the private key once: it is saved in your lab "
            "folder with mode 0400 (readable by you only; `ssh` refuses it otherwise) and never shown here."),
         run_key_pair, snippets.key_pair, plan_key_pair),
    Step("security_group", N_("Create the security group"),
         N_("Inbound TCP 8000 (the API) and 22 (SSH), both from your address only (option ssh_cidr). The handout "
            "opens SSH to 0.0.0.0/0, the whole internet: never do that. To let a class call your API, tick the "
            "option that opens 8000 (only) to everyone."),
         run_security_group, snippets.security_group, plan_security_group),
    Step("bundle", N_("Upload the app bundle"),
         N_("The app (`ec2_app/`: FastAPI, Dockerfile, requirements) and the course's `model.onnx` as one tar.gz in "
            "your bucket `ec2-<name>-bundle`; the instance downloads it through a presigned URL, so the bucket "
            "stays private."), run_bundle, snippets.bundle, plan_bundle),
    Step("instance", N_("Launch the instance"),
         N_("Ubuntu 24.04 LTS (the AMI id comes from Canonical's public SSM parameter, never hard-coded; the "
            "handout's 20.04 is end of life), t2.large unless you choose otherwise, your key pair and security "
            "group, and a start-up script (user data) that installs Docker, fetches the bundle, builds the image "
            "and runs it on 8000 with `--restart unless-stopped`. Launched with a client token, so running "
            "this twice at once still makes one instance. It bills by the hour while it runs."),
         run_instance, snippets.instance, plan_instance),
    Step("health", N_("Wait for the API"),
         N_("The instance is running before the app is: installing Docker and building the image takes a few "
            "minutes on AWS. This polls `/health` until it answers."), run_health, snippets.health, plan_health),
    Step("predict", N_("Send the sample record"),
         N_("`POST /predict` with the lab guide's sample record (the handout's `Married`/`Professional` are not Adult "
            "categories)."), run_predict, snippets.predict, plan_predict),
)
