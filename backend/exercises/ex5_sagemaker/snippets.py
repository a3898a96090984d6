"""The code each exercise-5 step shows, with the student's values (the same ones the step uses).

Pasted in order from the lab folder (after exercise 2's download put the course files in `course/`),
they rebuild the exercise. The image is the one step the sandbox does differently: it has no Docker,
so its snippet records the push (what the step does there) and says what to run on AWS.
"""
from __future__ import annotations

import json
from typing import Any

from ... import ecr, s3
from ...artifacts import SAMPLE_RECORD
from ...i18n import _
from ...lab import LabContext
from ...names import lab_tags, tag_list
from ..ex2_s3.state import course_dir
from .deployment import role_name
from .state import (INSTANCE, INSTANCE_COUNT, LAB_ROLE, MODEL_DIR, MODEL_KEY, SAGEMAKER_PRINCIPAL, USE_LAB_ROLE,
                    mlflow_version, policy_document)


def _tags(ctx: LabContext) -> str:
    return repr(tag_list(lab_tags(ctx.svc, 5)))


def _document(document: dict[str, Any]) -> str:
    """A policy document as Python a student reads: one statement a line (JSON strings are Python strings)."""
    statements = ",\n".join(f"    {json.dumps(s)}" for s in document["Statement"])
    return f'{{"Version": {json.dumps(document["Version"])}, "Statement": [\n{statements},\n]}}'


def image(ctx: LabContext) -> str:
    tag, repository = mlflow_version(), ctx.names.serving_repository
    show = f"""\
image = ecr.describe_images(repositoryName={repository!r}, imageIds=[{{"imageTag": {tag!r}}}])["imageDetails"][0]
print(image["imageDigest"], image["imagePushedAt"])
"""
    # Comments follow the language; the code (and the commands in them) does not.
    if not ctx.aws.target.is_sandbox:
        once = _("Once per account and region, on a machine with Docker and these credentials (about 10 minutes),")
        shell = _("in a shell:   {install}   then   {push}").format(
            install=f"pip install mlflow=={tag}", push="mlflow sagemaker build-and-push-container")
        builds = _("It builds MLflow's serving image and pushes it as {image}. This checks it is there:").format(
            image=f"{repository}:{tag}")
        return f"""\
{ctx.folder_note()}
# {once}
# {shell}
# {builds}
import boto3

ecr = boto3.client("ecr", region_name={ctx.region!r})
""" + show
    on_aws = _("On AWS, run once per account and region, on a machine with Docker (it builds MLflow's serving "
               "image):")
    no_docker = _("The sandbox has no Docker: record the push instead (PutImage is the last call of `docker push`).")
    shared = _("one repository per account, shared by the class")
    pushed = _("pushed already")
    return f"""\
{ctx.folder_note()}
# {on_aws}
#   pip install mlflow=={tag}
#   mlflow sagemaker build-and-push-container
# {no_docker}
import boto3

ecr = boto3.client("ecr", region_name={ctx.region!r})
tags = {_tags(ctx)}
try:
    ecr.create_repository(repositoryName={repository!r}, tags=tags)
except ecr.exceptions.RepositoryAlreadyExistsException:
    pass   # {shared}
try:
    ecr.put_image(repositoryName={repository!r}, imageTag={tag!r},
                  imageManifest={ecr.placeholder_manifest(f"{repository}:{tag}")!r},
                  imageManifestMediaType={ecr.MANIFEST_MEDIA_TYPE!r})
except ecr.exceptions.ImageAlreadyExistsException:
    pass   # {pushed}
""" + show


def role(ctx: LabContext) -> str:
    if USE_LAB_ROLE.get(ctx):
        lab = _("AWS Academy learner labs may not create roles: the endpoint runs with the lab's own {role}.").format(
            role=LAB_ROLE)
        return f"""\
{ctx.folder_note()}
# {lab}
import boto3

role = boto3.client("iam").get_role(RoleName={LAB_ROLE!r})["Role"]
print(role["Arn"])
"""
    names = ctx.names
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": SAGEMAKER_PRINCIPAL}, "Action": "sts:AssumeRole"}]}
    assumes = _("SageMaker assumes the role to pull the image and read the model: trust it, and allow exactly that.")
    academy = _("An AWS Academy learner lab cannot create roles: tick \"Use LabRole\" and use its {role} "
                "instead.").format(role=LAB_ROLE)
    return f"""\
{ctx.folder_note()}
import json
import boto3

iam = boto3.client("iam")
tags = {_tags(ctx)}
# {assumes}
trust = {_document(trust)}
iam.create_role(RoleName={names.sagemaker_role!r}, AssumeRolePolicyDocument=json.dumps(trust), Tags=tags)
policy = {_document(policy_document(names))}
arn = iam.create_policy(PolicyName={names.sagemaker_policy!r}, PolicyDocument=json.dumps(policy),
                        Tags=tags)["Policy"]["Arn"]
iam.attach_role_policy(RoleName={names.sagemaker_role!r}, PolicyArn=arn)
# {academy}
"""


def model(ctx: LabContext) -> str:
    bucket = ctx.names.sagemaker_bucket
    args = ", ".join(f"{k}={v!r}" for k, v in s3.create_bucket_kwargs(bucket, ctx.region).items())
    course_zip = (course_dir(ctx) / MODEL_KEY).relative_to(ctx.workdir).as_posix()
    uploads = _("MLflow uploads model.tar.gz here")
    unpack = _("Exercise 2 downloaded the course files to course/: unpack the MLflow model (MLmodel, the pipeline, "
               "…).")
    return f"""\
{ctx.folder_note()}
import zipfile
import boto3

s3 = boto3.client("s3", region_name={ctx.region!r})
s3.create_bucket({args})   # {uploads}
s3.get_waiter("bucket_exists").wait(Bucket={bucket!r})
s3.put_bucket_tagging(Bucket={bucket!r}, Tagging={{"TagSet": {_tags(ctx)}}})
# {unpack}
zipfile.ZipFile({course_zip!r}).extractall({MODEL_DIR!r})
print(open({MODEL_DIR + "/MLmodel"!r}).read())
"""


def deploy(ctx: LabContext) -> str:
    names = ctx.names
    note = {
        "removed": _("mlflow.sagemaker.deploy(...) was removed in MLflow 2"),
        "bucket": _("not \"bucket_name\": MLflow ignores unknown keys"),
        "tag": _("the tag is MLflow's version"),
        "bills": _("bills by the hour until the endpoint is deleted"),
        "sync": _("wait until InService (5-10 minutes on AWS); raise if it fails"),
        "later": _("Later, to swap in a changed model:"),
        "tags": _("MLflow tags endpoint configs with app_name only: give them the lab's tags too, so clean-up may "
                  "remove them."),
    }
    return f"""\
{ctx.folder_note()}
import boto3
from mlflow.deployments import get_deploy_client   # {note["removed"]}

role = boto3.client("iam").get_role(RoleName={role_name(ctx)!r})["Role"]
repository = boto3.client("ecr", region_name={ctx.region!r}).describe_repositories(
    repositoryNames=[{names.serving_repository!r}])["repositories"][0]
config = {{
    "execution_role_arn": role["Arn"],
    "bucket": {names.sagemaker_bucket!r},      # {note["bucket"]}
    "image_url": repository["repositoryUri"] + ":{mlflow_version()}",   # {note["tag"]}
    "region_name": {ctx.region!r},
    "instance_type": {INSTANCE.get(ctx)!r},   # {note["bills"]}
    "instance_count": {INSTANCE_COUNT},
    "synchronous": True,                # {note["sync"]}
    "tags": {lab_tags(ctx.svc, 5)!r},
}}
client = get_deploy_client("sagemaker:/{ctx.region}")
client.create_deployment(name={names.endpoint!r}, model_uri={MODEL_DIR!r}, flavor="python_function", config=config)
# {note["later"]}
#   client.update_deployment(name={names.endpoint!r}, model_uri={MODEL_DIR!r}, config=dict(config, mode="replace"))

sm = boto3.client("sagemaker", region_name={ctx.region!r})
print(sm.describe_endpoint(EndpointName={names.endpoint!r})["EndpointStatus"])
# {note["tags"]}
for found in sm.list_endpoint_configs(NameContains={names.endpoint_config_prefix!r})["EndpointConfigs"]:
    sm.add_tags(ResourceArn=found["EndpointConfigArn"], Tags={_tags(ctx)})
"""


def query(ctx: LabContext) -> str:
    refused = _("not \"application/json; format=pandas-split\": MLflow 2+ rejects it (415)")
    return f"""\
{ctx.folder_note()}
import json
import boto3

record = {SAMPLE_RECORD!r}
body = {{"dataframe_split": {{"columns": list(record), "data": [list(record.values())]}}}}
runtime = boto3.client("sagemaker-runtime", region_name={ctx.region!r})
response = runtime.invoke_endpoint(
    EndpointName={ctx.names.endpoint!r}, Body=json.dumps(body),
    ContentType="application/json",    # {refused}
)
predictions = json.loads(response["Body"].read())["predictions"]   # [[p(<=50K), p(>50K)], …]
print(predictions)
"""
