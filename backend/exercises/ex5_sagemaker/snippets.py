"""The code each exercise-5 step shows, with the student's values (the same ones the step uses)."""
from __future__ import annotations

import json

from ... import ecr, s3
from ...artifacts import SAMPLE_RECORD
from ...config import COURSE_BUCKET
from ...lab import LabContext
from ...names import lab_tags, tag_list
from .deployment import role_name
from .state import INSTANCE, INSTANCE_COUNT, MODEL_DIR, MODEL_KEY, SAGEMAKER_PRINCIPAL, mlflow_version, policy_document


def image(ctx: LabContext) -> str:
    tag, repository = mlflow_version(), ctx.names.serving_repository
    common = f"""\
# Once per account and region, on a machine with Docker (it builds MLflow's serving image):
#   pip install mlflow=={tag}
#   mlflow sagemaker build-and-push-container
import boto3

ecr = boto3.client("ecr", region_name={ctx.region!r})
"""
    show = f"""\
image = ecr.describe_images(repositoryName={repository!r}, imageIds=[{{"imageTag": {tag!r}}}])["imageDetails"][0]
print(image["imageDigest"], image["imagePushedAt"])
"""
    if not ctx.aws.target.is_sandbox:
        return common + show
    return common + f"""
# The sandbox has no Docker: the button records the push instead (the last call of `docker push`).
ecr.create_repository(repositoryName={repository!r}, tags={tag_list(lab_tags(ctx.svc, 5))!r})
ecr.put_image(repositoryName={repository!r}, imageTag={tag!r},
              imageManifest={ecr.placeholder_manifest(f"{repository}:{tag}")!r},
              imageManifestMediaType={ecr.MANIFEST_MEDIA_TYPE!r})
""" + show


def role(ctx: LabContext) -> str:
    names = ctx.names
    document = json.dumps(policy_document(names), indent=4)
    tags = tag_list(lab_tags(ctx.svc, 5))
    return f"""\
import json
import boto3

iam = boto3.client("iam")
trust = {{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow",
          "Principal": {{"Service": {SAGEMAKER_PRINCIPAL!r}}}, "Action": "sts:AssumeRole"}}]}}
tags = {tags!r}
iam.create_role(RoleName={names.sagemaker_role!r}, AssumeRolePolicyDocument=json.dumps(trust), Tags=tags)
policy = {document}
arn = iam.create_policy(PolicyName={names.sagemaker_policy!r}, PolicyDocument=json.dumps(policy),
                        Tags=tags)["Policy"]["Arn"]
iam.attach_role_policy(RoleName={names.sagemaker_role!r}, PolicyArn=arn)
# AWS Academy learner labs cannot create roles: use the existing role "LabRole" instead.
"""


def model(ctx: LabContext) -> str:
    bucket = ctx.names.sagemaker_bucket
    args = ", ".join(f"{k}={v!r}" for k, v in s3.create_bucket_kwargs(bucket, ctx.region).items())
    return f"""\
import zipfile
import boto3

s3 = boto3.client("s3", region_name={ctx.region!r})
s3.create_bucket({args})  # MLflow uploads model.tar.gz here
s3.put_bucket_tagging(Bucket={bucket!r}, Tagging={{"TagSet": {tag_list(lab_tags(ctx.svc, 5))!r}}})
s3.download_file({COURSE_BUCKET!r}, {MODEL_KEY!r}, {MODEL_KEY!r})
zipfile.ZipFile({MODEL_KEY!r}).extractall({MODEL_DIR!r})   # an MLflow model directory: MLmodel, model.skops, …
"""


def deploy(ctx: LabContext) -> str:
    names = ctx.names
    return f"""\
import time
import boto3
from mlflow.deployments import get_deploy_client   # mlflow.sagemaker.deploy(...) was removed in MLflow 2

account = boto3.client("sts").get_caller_identity()["Account"]
client = get_deploy_client("sagemaker:/{ctx.region}")
client.create_deployment(            # update_deployment(..., config={{…, "mode": "replace"}}) swaps the model
    name={names.endpoint!r},
    model_uri={MODEL_DIR!r},           # the unpacked MLflow model directory
    flavor="python_function",
    config={{
        "execution_role_arn": f"arn:aws:iam::{{account}}:role/{role_name(ctx)}",
        "bucket": {names.sagemaker_bucket!r},     # not "bucket_name": MLflow ignores unknown keys
        "image_url": f"{{account}}.dkr.ecr.{ctx.region}.amazonaws.com/{names.serving_repository}:{mlflow_version()}",
        "region_name": {ctx.region!r},
        "instance_type": {INSTANCE.get(ctx)!r},
        "instance_count": {INSTANCE_COUNT},
        "synchronous": False, "archive": True,    # return at once; we poll below
        "tags": {lab_tags(ctx.svc, 5)!r},
    }},
)
sm = boto3.client("sagemaker", region_name={ctx.region!r})
while (status := sm.describe_endpoint(EndpointName={names.endpoint!r})["EndpointStatus"]) in ("Creating", "Updating"):
    print(status)
    time.sleep(10)
print(status, sm.describe_endpoint(EndpointName={names.endpoint!r}).get("FailureReason", ""))
# MLflow tags endpoint configs with app_name only: give them the lab's tags too, so teardown may remove them.
for config in sm.list_endpoint_configs(NameContains={names.endpoint_config_prefix!r})["EndpointConfigs"]:
    sm.add_tags(ResourceArn=config["EndpointConfigArn"], Tags={tag_list(lab_tags(ctx.svc, 5))!r})
"""


def query(ctx: LabContext) -> str:
    return f"""\
import json
import boto3

record = {SAMPLE_RECORD!r}
body = {{"dataframe_split": {{"columns": list(record), "data": [list(record.values())]}}}}
runtime = boto3.client("sagemaker-runtime", region_name={ctx.region!r})
response = runtime.invoke_endpoint(
    EndpointName={ctx.names.endpoint!r}, Body=json.dumps(body),
    ContentType="application/json",    # not "application/json; format=pandas-split": MLflow 2+ rejects it (415)
)
predictions = json.loads(response["Body"].read())["predictions"]   # [[p(<=50K), p(>50K)], …]
print(predictions)
"""
