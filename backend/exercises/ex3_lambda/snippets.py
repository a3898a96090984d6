"""The code each exercise-3 step shows, with the student's values (the same ones the step uses).

Pasted in order, each as a Python script run from the lab folder (after exercise 2's download put the
course files in `course/`), they rebuild the exercise and its checks pass. The function's sources come
with this project: the function snippet copies them into `lambda_code/` of the lab folder and zips
them from there, byte for byte as the step does, so a button pressed afterwards finds nothing to change.

The comments follow the language; their text is marked outside the f-strings (Babel does not look inside one).
"""
from __future__ import annotations

import json
import textwrap

from ... import s3
from ...config import COURSE_BUCKET
from ...i18n import _
from ...lab import LabContext
from ...lambda_ import DIRECT_UPLOAD_LIMIT
from ...names import lab_tags, tag_list
from ..ex2_s3.state import course_dir
from .batch import WAIT_FOR_OUTPUT_S
from .deploy import (HANDLER, HANDLER_DIR, LAB_ROLE, LAMBDA_SERVICE, LAYER_KEY, MEMORY_MB, MODEL_KEY, NUMBER, RUNTIME,
                     TEST_KEY, TIMEOUT_S, TIMESTAMP, USE_LAB_ROLE, function_environment, handler_files,
                     policy_document, role_name)
from .state import error_report_key

# Where the function snippet puts the handler's sources, relative to the lab folder.
CODE_FOLDER = HANDLER_DIR.name
# The deployment zip's fixed timestamp, as backend.lambda_.zip_files sets it (a test pins the two: the snippet's
# zip must be the step's, byte for byte).
ZIP_DATE = (2024, 1, 1, 0, 0, 0)


def _tags(ctx: LabContext) -> dict[str, str]:
    return lab_tags(ctx.svc, NUMBER)


def _comment(text: str, indent: str = "") -> str:
    """A comment of one or more lines in the snippet (its text is translated: lengths differ by language)."""
    lines = textwrap.wrap(text, 104 - len(indent), break_long_words=False, break_on_hyphens=False)
    return "\n".join(f"{indent}# {line}" for line in lines)


def buckets(ctx: LabContext) -> str:
    names = ctx.names
    create = s3.create_bucket_kwargs("BUCKET", ctx.region)
    config = (f", CreateBucketConfiguration={create['CreateBucketConfiguration']!r}"
              if "CreateBucketConfiguration" in create else "")
    model = (course_dir(ctx) / MODEL_KEY).relative_to(ctx.workdir).as_posix()
    tags_note = _("The lab's tags: how your instructor sees it is yours, and how clean-up finds it.")
    model_note = _comment(_("The model, copied from the course bucket (the same file as the {path} you downloaded "
                            "in exercise 2).").format(path=model))
    return f"""\
{ctx.folder_note()}
import boto3

s3 = boto3.client("s3", region_name={ctx.region!r})
for bucket in [{names.model_bucket!r}, {names.input_bucket!r}, {names.output_bucket!r}]:
    s3.create_bucket(Bucket=bucket{config})
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={dict(s3.ALL_PUBLIC_ACCESS_BLOCKED)!r})
    # {tags_note}
    s3.put_bucket_tagging(Bucket=bucket, Tagging={{"TagSet": {tag_list(_tags(ctx))!r}}})
{model_note}
s3.copy_object(Bucket={names.model_bucket!r}, Key={MODEL_KEY!r},
               CopySource={{"Bucket": {COURSE_BUCKET!r}, "Key": {MODEL_KEY!r}}})
"""


def policy(ctx: LabContext) -> str:
    if USE_LAB_ROLE.get(ctx):
        no_policy = _("With {role} the learner lab sets the function's permissions: no policy of your own.").format(
            role=LAB_ROLE)
        return f"""\
{ctx.folder_note()}
import boto3

# {no_policy}
print(boto3.client("iam").get_role(RoleName={LAB_ROLE!r})["Role"]["Arn"])
"""
    names = ctx.names
    document = json.dumps(policy_document(names), indent=4)
    arns_note = _comment(_("The ARNs name the buckets you created (the handout's {handout_input} and "
                           "{handout_output} do not exist: the function would be denied).").format(
                               handout_input=names.handout_input_bucket, handout_output=names.handout_output_bucket))
    return f"""\
{ctx.folder_note()}
import json
import boto3

{arns_note}
policy = {document}
boto3.client("iam").create_policy(
    PolicyName={names.lambda_policy!r}, PolicyDocument=json.dumps(policy),
    Description={f"Batch Lambda of {ctx.svc}: logs, read input/model, write output"!r},
    Tags={tag_list(_tags(ctx))!r})
"""


def role(ctx: LabContext) -> str:
    names = ctx.names
    if USE_LAB_ROLE.get(ctx):
        no_roles = _("AWS Academy learner labs cannot create roles: the function uses the existing {role}.").format(
            role=LAB_ROLE)
        must_trust = _("it must trust {service}").format(service=LAMBDA_SERVICE)
        return f"""\
{ctx.folder_note()}
import boto3

# {no_roles}
role = boto3.client("iam").get_role(RoleName={LAB_ROLE!r})["Role"]
print(role["Arn"], role["AssumeRolePolicyDocument"])   # {must_trust}
"""
    who_assumes = _("Who may assume the role: the Lambda service, on the function's behalf.")
    return f"""\
{ctx.folder_note()}
import json
import boto3

iam = boto3.client("iam")
# {who_assumes}
trust = {{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow",
          "Principal": {{"Service": {LAMBDA_SERVICE!r}}}, "Action": "sts:AssumeRole"}}]}}
iam.create_role(RoleName={names.lambda_role!r}, AssumeRolePolicyDocument=json.dumps(trust),
                Description={f"Batch Lambda of {ctx.svc}"!r}, Tags={tag_list(_tags(ctx))!r})
iam.get_waiter("role_exists").wait(RoleName={names.lambda_role!r})
account = boto3.client("sts").get_caller_identity()["Account"]
iam.attach_role_policy(RoleName={names.lambda_role!r},
                       PolicyArn=f"arn:aws:iam::{{account}}:policy/{names.lambda_policy}")
"""


def layer(ctx: LabContext) -> str:
    names = ctx.names
    direct_limit = _comment(_("Up to {size} MB zipped can be sent directly; a larger zip goes into a bucket of yours "
                              "first, and Content names it:").format(size=DIRECT_UPLOAD_LIMIT // 2**20))
    no_tags = _comment(_("Layers cannot carry tags: the lab's tags ride in the description, where clean-up reads "
                         "them."))
    return f"""\
{ctx.folder_note()}
import boto3

s3 = boto3.client("s3", region_name={ctx.region!r})
layer_zip = s3.get_object(Bucket={COURSE_BUCKET!r}, Key={LAYER_KEY!r})["Body"].read()
{direct_limit}
# s3.put_object(Bucket={names.model_bucket!r}, Key="layers/{LAYER_KEY}", Body=layer_zip)
# Content={{"S3Bucket": {names.model_bucket!r}, "S3Key": "layers/{LAYER_KEY}"}}
{no_tags}
boto3.client("lambda", region_name={ctx.region!r}).publish_layer_version(
    LayerName={names.lambda_layer!r}, Description={names.lambda_layer_description!r},
    Content={{"ZipFile": layer_zip}}, CompatibleRuntimes=[{RUNTIME!r}], CompatibleArchitectures=["x86_64"])
"""


def function(ctx: LabContext) -> str:
    names = ctx.names
    files = list(handler_files())
    code_note = _comment(_("The function's code comes with this project: copy it into your lab folder (read it "
                           "there: {entry} is the entry point, {reader} reads and scores the CSV).").format(
                               entry=files[0], reader=files[-1]))
    zip_note = _comment(_("The files at the zip's root; a fixed date makes the same files the same zip (Lambda's "
                          "CodeSha256), so deploying them again is seen as no change."))
    newest = _("the newest version")
    wait_role = _comment(_('On AWS a role made a moment ago may not be usable yet ("cannot be assumed"): wait ten '
                           'seconds, run again.'))
    env_note = _comment(_("Bucket names are configuration, not code: the handler reads them from its environment."),
                        "    ")
    group_note = _comment(_("Made before the first run, the function's log group carries the lab's tags (Lambda "
                            "would make it untagged)."))
    return f"""\
{ctx.folder_note()}
import io, os, shutil, zipfile
import boto3

{code_note}
os.makedirs({CODE_FOLDER!r}, exist_ok=True)
for name in {files!r}:
    shutil.copy(os.path.join({str(HANDLER_DIR)!r}, name), {CODE_FOLDER!r})
{zip_note}
buffer = io.BytesIO()
with zipfile.ZipFile(buffer, "w") as z:
    for name in sorted({files!r}):
        info = zipfile.ZipInfo(name, date_time={ZIP_DATE!r})
        info.external_attr = 0o644 << 16   # rw-r--r--
        with open(os.path.join({CODE_FOLDER!r}, name), "rb") as f:
            z.writestr(info, f.read(), zipfile.ZIP_DEFLATED)

role = boto3.client("iam").get_role(RoleName={role_name(ctx)!r})["Role"]["Arn"]
lam = boto3.client("lambda", region_name={ctx.region!r})
layer = max(lam.list_layer_versions(LayerName={names.lambda_layer!r})["LayerVersions"],
            key=lambda v: v["Version"])["LayerVersionArn"]   # {newest}
{wait_role}
lam.create_function(
    FunctionName={names.lambda_function!r}, Runtime={RUNTIME!r}, Architectures=["x86_64"], Role=role,
    Handler={HANDLER!r}, Code={{"ZipFile": buffer.getvalue()}},
    MemorySize={MEMORY_MB}, Timeout={TIMEOUT_S}, Layers=[layer],
{env_note}
    Environment={{"Variables": {function_environment(ctx)!r}}},
    Description={f"Batch predictions for {ctx.svc}"!r}, Tags={_tags(ctx)!r})
{group_note}
boto3.client("logs", region_name={ctx.region!r}).create_log_group(
    logGroupName={names.lambda_log_group!r}, tags={_tags(ctx)!r})
lam.get_waiter("function_active_v2").wait(FunctionName={names.lambda_function!r})
"""


def trigger(ctx: LabContext) -> str:
    names = ctx.names
    may_invoke = _("S3 may invoke the function, for this bucket of this account only.")
    keep_note = _("Keep whatever notifications the bucket already has; add ours.")
    return f"""\
{ctx.folder_note()}
import boto3

account = boto3.client("sts").get_caller_identity()["Account"]
lam = boto3.client("lambda", region_name={ctx.region!r})
# {may_invoke}
lam.add_permission(FunctionName={names.lambda_function!r}, StatementId="s3-invoke-{names.input_bucket}",
                   Action="lambda:InvokeFunction", Principal="s3.amazonaws.com",
                   SourceArn="arn:aws:s3:::{names.input_bucket}", SourceAccount=account)
arn = lam.get_function_configuration(FunctionName={names.lambda_function!r})["FunctionArn"]
s3 = boto3.client("s3", region_name={ctx.region!r})
config = s3.get_bucket_notification_configuration(Bucket={names.input_bucket!r})
config.pop("ResponseMetadata", None)
# {keep_note}
config.setdefault("LambdaFunctionConfigurations", []).append(
    {{"Id": {names.lambda_function!r}, "LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}})
s3.put_bucket_notification_configuration(Bucket={names.input_bucket!r}, NotificationConfiguration=config)
"""


def test(ctx: LabContext) -> str:
    names = ctx.names
    local = (course_dir(ctx) / TEST_KEY).relative_to(ctx.workdir).as_posix()
    stem = TEST_KEY.rsplit(".", 1)[0]
    wanted = f'key.startswith("{stem}_predictions_")' if TIMESTAMP.get(ctx) else 'key == "predictions.csv"'
    report = error_report_key(TEST_KEY)
    budget = int(WAIT_FOR_OUTPUT_S)
    to_second = _("S3 keeps LastModified to the second")
    triggers = _("this triggers the function")
    wait_note = _comment(_("Wait for what the function writes: its predictions, or its report on a file it cannot "
                           "score."))
    log_note = _comment(_("Its log: START, what the handler printed, END and REPORT (duration, memory), written as "
                          "the run ends."))
    first_rows = _("the first rows")
    return f"""\
{ctx.folder_note()}
import time
from datetime import datetime, timedelta, timezone
import boto3

s3 = boto3.client("s3", region_name={ctx.region!r})
since = datetime.now(timezone.utc) - timedelta(seconds=2)   # {to_second}
s3.upload_file({local!r}, {names.input_bucket!r}, {TEST_KEY!r})   # {triggers}
{wait_note}
result = None
for _ in range({budget}):
    new = [o["Key"] for o in s3.list_objects_v2(Bucket={names.output_bucket!r}).get("Contents", [])
           if o["LastModified"] >= since]
    result = next((key for key in new if {wanted} or key == {report!r}), None)
    if result:
        break
    time.sleep(1)
if result is None:
    raise SystemExit("No output after {budget} s: is the trigger on {names.input_bucket}? "
                     "See the log group {names.lambda_log_group} in CloudWatch Logs.")

{log_note}
logs = boto3.client("logs", region_name={ctx.region!r})
for _ in range(30):
    events = logs.filter_log_events(logGroupName={names.lambda_log_group!r},
                                    startTime=int(since.timestamp() * 1000))["events"]
    if any(e["message"].startswith("REPORT") for e in events):
        break
    time.sleep(1)
for event in events:
    print(event["message"].rstrip())

body = s3.get_object(Bucket={names.output_bucket!r}, Key=result)["Body"].read().decode()
if result == {report!r}:
    raise SystemExit(f"The function could not score {TEST_KEY}: {{body}}")
print(f"s3://{names.output_bucket}/{{result}}:")
print("\\n".join(body.splitlines()[:5]))   # {first_rows}
"""
