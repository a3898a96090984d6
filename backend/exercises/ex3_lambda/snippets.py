"""The code each exercise-3 step shows, with the student's values (the same ones the step uses)."""
from __future__ import annotations

import json

from ... import s3
from ...config import COURSE_BUCKET
from ...lab import LabContext
from ...names import lab_tags, tag_list
from .deploy import (HANDLER, LAB_ROLE, LAMBDA_SERVICE, LAYER_KEY, MEMORY_MB, MODEL_KEY, NUMBER, RUNTIME, TEST_KEY,
                    TIMEOUT_S, TIMESTAMP, USE_LAB_ROLE, function_environment, handler_files, policy_document, role_name)


def _tags(ctx: LabContext) -> str:
    return repr(tag_list(lab_tags(ctx.svc, NUMBER)))


def buckets(ctx: LabContext) -> str:
    names = ctx.names
    create = s3.create_bucket_kwargs("BUCKET", ctx.region)
    config = (f", CreateBucketConfiguration={create['CreateBucketConfiguration']!r}"
              if "CreateBucketConfiguration" in create else "")
    return f"""\
import boto3

s3 = boto3.client("s3", region_name={ctx.region!r})
for bucket in [{names.model_bucket!r}, {names.input_bucket!r}, {names.output_bucket!r}]:
    s3.create_bucket(Bucket=bucket{config})
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={dict(s3.ALL_PUBLIC_ACCESS_BLOCKED)!r})
    s3.put_bucket_tagging(Bucket=bucket, Tagging={{"TagSet": {_tags(ctx)}}})
# the model, copied from the course bucket (same as uploading the model.onnx you downloaded)
s3.copy_object(Bucket={names.model_bucket!r}, Key={MODEL_KEY!r},
               CopySource={{"Bucket": {COURSE_BUCKET!r}, "Key": {MODEL_KEY!r}}})
"""


def policy(ctx: LabContext) -> str:
    if USE_LAB_ROLE.get(ctx):
        return f"""\
import boto3

# With {LAB_ROLE} the learner lab sets the function's permissions: no policy of your own.
print(boto3.client("iam").get_role(RoleName={LAB_ROLE!r})["Role"]["Arn"])
"""
    document = json.dumps(policy_document(ctx.names), indent=4)
    return f"""\
import json
import boto3

iam = boto3.client("iam")
policy = {document}
iam.create_policy(PolicyName={ctx.names.lambda_policy!r}, PolicyDocument=json.dumps(policy),
                  Tags={_tags(ctx)})
"""


def role(ctx: LabContext) -> str:
    names = ctx.names
    if USE_LAB_ROLE.get(ctx):
        return f"""\
import boto3

# AWS Academy learner labs cannot create roles: the function uses the existing {LAB_ROLE}.
role = boto3.client("iam").get_role(RoleName={LAB_ROLE!r})["Role"]
print(role["Arn"], role["AssumeRolePolicyDocument"])   # it must trust {LAMBDA_SERVICE}
"""
    return f"""\
import json
import boto3

iam = boto3.client("iam")
trust = {{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow",
          "Principal": {{"Service": {LAMBDA_SERVICE!r}}}, "Action": "sts:AssumeRole"}}]}}
iam.create_role(RoleName={names.lambda_role!r}, AssumeRolePolicyDocument=json.dumps(trust), Tags={_tags(ctx)})
account = boto3.client("sts").get_caller_identity()["Account"]
iam.attach_role_policy(RoleName={names.lambda_role!r},
                       PolicyArn=f"arn:aws:iam::{{account}}:policy/{names.lambda_policy}")
"""


def layer(ctx: LabContext) -> str:
    return f"""\
import boto3

s3 = boto3.client("s3", region_name={ctx.region!r})
layer_zip = s3.get_object(Bucket={COURSE_BUCKET!r}, Key={LAYER_KEY!r})["Body"].read()
# Up to 50 MB zipped can be sent directly; larger zips go through S3 (Content={{"S3Bucket": …, "S3Key": …}}).
# Layers cannot carry tags: the lab writes them into the description.
boto3.client("lambda", region_name={ctx.region!r}).publish_layer_version(
    LayerName={ctx.names.lambda_layer!r}, Description={ctx.names.lambda_layer_description!r},
    Content={{"ZipFile": layer_zip}}, CompatibleRuntimes=[{RUNTIME!r}], CompatibleArchitectures=["x86_64"])
"""


def function(ctx: LabContext) -> str:
    names = ctx.names
    files = "\n".join(f"    z.write(\"lambda_code/{name}\", {name!r})" for name in handler_files())
    return f"""\
import io, zipfile
import boto3

buffer = io.BytesIO()
with zipfile.ZipFile(buffer, "w") as z:   # the handler files at the zip's root
{files}
account = boto3.client("sts").get_caller_identity()["Account"]
# Made before the first run, the function's log group carries the lab's tags (Lambda would make it untagged).
boto3.client("logs", region_name={ctx.region!r}).create_log_group(
    logGroupName={names.lambda_log_group!r}, tags={lab_tags(ctx.svc, NUMBER)!r})
lam = boto3.client("lambda", region_name={ctx.region!r})
layer = lam.list_layer_versions(LayerName={names.lambda_layer!r})["LayerVersions"][0]["LayerVersionArn"]
lam.create_function(
    FunctionName={names.lambda_function!r}, Runtime={RUNTIME!r}, Architectures=["x86_64"],
    Role=f"arn:aws:iam::{{account}}:role/{role_name(ctx)}",
    Handler={HANDLER!r}, Code={{"ZipFile": buffer.getvalue()}},
    MemorySize={MEMORY_MB}, Timeout={TIMEOUT_S}, Layers=[layer],
    Environment={{"Variables": {function_environment(ctx)!r}}}, Tags={lab_tags(ctx.svc, NUMBER)!r})
lam.get_waiter("function_active_v2").wait(FunctionName={names.lambda_function!r})
"""


def trigger(ctx: LabContext) -> str:
    names = ctx.names
    return f"""\
import boto3

account = boto3.client("sts").get_caller_identity()["Account"]
lam = boto3.client("lambda", region_name={ctx.region!r})
lam.add_permission(FunctionName={names.lambda_function!r}, StatementId="s3-invoke-{names.input_bucket}",
                   Action="lambda:InvokeFunction", Principal="s3.amazonaws.com",
                   SourceArn="arn:aws:s3:::{names.input_bucket}", SourceAccount=account)
arn = lam.get_function_configuration(FunctionName={names.lambda_function!r})["FunctionArn"]
s3 = boto3.client("s3", region_name={ctx.region!r})
config = s3.get_bucket_notification_configuration(Bucket={names.input_bucket!r})
config.pop("ResponseMetadata", None)
# Keep whatever notifications the bucket already has; add ours.
config.setdefault("LambdaFunctionConfigurations", []).append(
    {{"Id": {names.lambda_function!r}, "LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}})
s3.put_bucket_notification_configuration(Bucket={names.input_bucket!r}, NotificationConfiguration=config)
"""


def test(ctx: LabContext) -> str:
    names = ctx.names
    stem = TEST_KEY.rsplit(".", 1)[0]
    wanted = f'k.startswith("{stem}_predictions_")' if TIMESTAMP.get(ctx) else 'k == "predictions.csv"'
    return f"""\
import time
import boto3

s3 = boto3.client("s3", region_name={ctx.region!r})
s3.upload_file({TEST_KEY!r}, {names.input_bucket!r}, {TEST_KEY!r})   # this triggers the function
for _ in range(90):                                    # wait for its output
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket={names.output_bucket!r}).get("Contents", [])]
    if any({wanted} for k in keys):
        break
    time.sleep(1)
print(keys)
# its log: CloudWatch Logs group {names.lambda_log_group}
"""
