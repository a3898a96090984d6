"""A demonstration class in the sandbox: students at mixed stages, for demos, tests and the benchmark.

Plain boto3 with the lab's names and tags (and lab:seeded=true), no real layers or compute: fast
enough for hundreds of students, and what the class overview sees is what the exercises made.
"""
from __future__ import annotations

import hashlib
import json
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, Callable

from botocore.exceptions import ClientError

from .. import ec2, iam, lambda_, s3
from ..aws import Aws
from ..errors import LabError, error_code
from ..i18n import _, ngettext
from ..names import MLFLOW_ID_LENGTH, LabNames, lab_tags, tag_list, tags_text
from .snapshot import TAG_SEEDED

Progress = Callable[[str], None]

# A deterministic mix of stages, by student index modulo its length.
SEED_STAGES = ("ex2-done", "ex3-mid", "ex3-stuck-policy", "ex3-done", "ex4-running", "ex2-started",
               "ex5-endpoint", "ex3-mid", "untagged", "ex2-done")
SEED_PREFIX = "class"
_SEED_ZIP: bytes | None = None
_SEED_IGNORED = {"BucketAlreadyOwnedByYou", "BucketAlreadyExists", "EntityAlreadyExists", "ResourceConflictException",
                 "InvalidKeyPair.Duplicate", "InvalidGroup.Duplicate"}


def _seed_zip() -> bytes:
    global _SEED_ZIP
    if _SEED_ZIP is None:
        _SEED_ZIP = lambda_.zip_files({"handler.py": b"def lambda_handler(event, context):\n    return {}\n"})
    return _SEED_ZIP


def _quietly(call: Callable[..., Any], **kwargs: Any) -> Any:
    try:
        return call(**kwargs)
    except ClientError as err:
        if error_code(err) in _SEED_IGNORED or "already exist" in str(err).lower():
            return None
        raise


def _mlflow_id(svc: str) -> str:
    # MLflow names a deployment's config and model with 20 hex characters: deterministic here.
    return hashlib.sha256(svc.encode()).hexdigest()[:MLFLOW_ID_LENGTH]


def seed_student(aws: Aws, svc: str, stage: str, account: str) -> None:
    """Create one student's resources at a stage of SEED_STAGES, tagged (and lab:seeded=true) unless 'untagged'."""
    # What the exercises deploy (runtime, handler, policies, instance types): seeded as they make them.
    from ..exercises import ex3_lambda as ex3, ex4_ec2 as ex4
    from ..exercises.ex5_sagemaker import state as ex5

    names, region = LabNames(svc), aws.region
    tagged = stage != "untagged"

    def tags(exercise: int) -> dict[str, str]:
        return {**lab_tags(svc, exercise), TAG_SEEDED: "true"} if tagged else {}

    s3c, iamc, lam = aws.client("s3"), aws.client("iam"), aws.client("lambda")

    def bucket(name: str, exercise: int) -> None:
        _quietly(s3c.create_bucket, **s3.create_bucket_kwargs(name, region))
        if tagged:
            s3c.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tag_list(tags(exercise))})
            if exercise == 3:  # as exercise 3's bucket step leaves them
                s3c.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=s3.ALL_PUBLIC_ACCESS_BLOCKED)

    bucket(names.data_bucket, 2)
    if stage == "ex2-started":
        return
    s3c.put_object(Bucket=names.data_bucket, Key="input_batch.csv", Body=b"age,work_class\n39,Local-gov\n")
    if stage in ("ex2-done",):
        return
    for b in (names.model_bucket, names.input_bucket, names.output_bucket):
        bucket(b, 3)
    if stage == "untagged":
        return
    document = ex3.policy_document(names)
    if stage == "ex3-stuck-policy":  # the handout's ARNs: input-bucket-<svc>/output-bucket-<svc>
        document = json.loads(json.dumps(document)
                              .replace(f":::{names.input_bucket}/", f":::{names.handout_input_bucket}/")
                              .replace(f":::{names.output_bucket}/", f":::{names.handout_output_bucket}/"))
    policy_arn = f"arn:aws:iam::{account}:policy/{names.lambda_policy}"
    _quietly(iamc.create_policy, PolicyName=names.lambda_policy, PolicyDocument=json.dumps(document),
             Tags=tag_list(tags(3)))
    _quietly(iamc.create_role, RoleName=names.lambda_role, Tags=tag_list(tags(3)),
             AssumeRolePolicyDocument=json.dumps(iam.trust_policy("lambda.amazonaws.com")))
    iamc.attach_role_policy(RoleName=names.lambda_role, PolicyArn=policy_arn)
    if stage == "ex3-mid" and sum(map(ord, svc)) % 2:  # half of them have not got to the function yet
        return
    layers = []
    if stage in ("ex3-done", "ex4-running", "ex5-endpoint"):
        # Layers cannot carry tags: the lab's tags ride in the description (names.tags_text).
        published = lam.publish_layer_version(LayerName=names.lambda_layer, Content={"ZipFile": _seed_zip()},
                                              Description=f"seeded {tags_text(tags(3))}",
                                              CompatibleRuntimes=[ex3.RUNTIME])
        layers = [published["LayerVersionArn"]]
    env = {"MODEL_BUCKET": names.model_bucket, "MODEL_KEY": ex3.MODEL_KEY, "OUTPUT_BUCKET": names.output_bucket}
    _quietly(lam.create_function, FunctionName=names.lambda_function, Runtime=ex3.RUNTIME, Handler=ex3.HANDLER,
             Role=f"arn:aws:iam::{account}:role/{names.lambda_role}", Code={"ZipFile": _seed_zip()},
             MemorySize=ex3.MEMORY_MB, Timeout=ex3.TIMEOUT_S, Environment={"Variables": env}, Layers=layers,
             Tags=tags(3))
    if stage in ("ex3-done", "ex4-running", "ex5-endpoint"):
        # As the function step makes it (tagged), with one run logged.
        logs_client = aws.client("logs")
        _quietly(logs_client.create_log_group, logGroupName=names.lambda_log_group, tags=tags(3))
        _quietly(logs_client.create_log_stream, logGroupName=names.lambda_log_group, logStreamName="seeded")
        _quietly(logs_client.put_log_events, logGroupName=names.lambda_log_group, logStreamName="seeded",
                 logEvents=[{"timestamp": int(time.time() * 1000), "message": "START RequestId: seeded"}])
    if stage == "ex4-running":
        _seed_instance(aws, names, tags(4), ex4.DEFAULT_INSTANCE_TYPE, ex4.APP_PORT, ex4.SSH_PORT)
    if stage == "ex5-endpoint":
        _seed_endpoint(aws, names, tags(5), account, ex5.policy_document(names), ex5.INSTANCE_TYPE)


def _seed_instance(aws: Aws, names: LabNames, tags: dict[str, str], instance_type: str, app_port: int,
                   ssh_port: int) -> None:
    client = aws.client("ec2")

    def spec(kind: str) -> list[dict[str, Any]]:
        return [{"ResourceType": kind, "Tags": tag_list({**tags, "Name": names.instance_name})}]

    _quietly(client.create_key_pair, KeyName=names.key_pair, TagSpecifications=spec("key-pair"))
    group = _quietly(client.create_security_group, GroupName=names.security_group, Description="seeded lab group",
                     TagSpecifications=spec("security-group"))
    if group is not None:
        client.authorize_security_group_ingress(GroupId=group["GroupId"], IpPermissions=[
            ec2.IngressRule(ssh_port, "127.0.0.1/32").permission(), ec2.IngressRule(app_port, "127.0.0.1/32").permission()])
        # No user data: the sandbox's EC2 compute only runs instances whose user data names a bundle.
        client.run_instances(ImageId="ami-0a2404b0c0d0e0f10", InstanceType=instance_type, MinCount=1, MaxCount=1,
                             KeyName=names.key_pair, SecurityGroupIds=[group["GroupId"]],
                             TagSpecifications=spec("instance"))


def _seed_endpoint(aws: Aws, names: LabNames, tags: dict[str, str], account: str, document: dict[str, Any],
                   instance_type: str) -> None:
    iamc, sm = aws.client("iam"), aws.client("sagemaker")
    _quietly(iamc.create_policy, PolicyName=names.sagemaker_policy, Tags=tag_list(tags),
             PolicyDocument=json.dumps(document))
    _quietly(iamc.create_role, RoleName=names.sagemaker_role, Tags=tag_list(tags),
             AssumeRolePolicyDocument=json.dumps(iam.trust_policy("sagemaker.amazonaws.com")))
    iamc.attach_role_policy(RoleName=names.sagemaker_role,
                            PolicyArn=f"arn:aws:iam::{account}:policy/{names.sagemaker_policy}")
    unique = _mlflow_id(names.svc)
    model, config = names.endpoint_model_prefix + unique, names.endpoint_config_prefix + unique
    _quietly(sm.create_model, ModelName=model, Tags=tag_list(tags),
             ExecutionRoleArn=f"arn:aws:iam::{account}:role/{names.sagemaker_role}",
             PrimaryContainer={"Image": f"{account}.dkr.ecr.{aws.region}.amazonaws.com/{names.serving_repository}:seed"})
    _quietly(sm.create_endpoint_config, EndpointConfigName=config, Tags=tag_list(tags),
             ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": model,
                                  "InstanceType": instance_type, "InitialInstanceCount": 1}])
    _quietly(sm.create_endpoint, EndpointName=names.endpoint, EndpointConfigName=config, Tags=tag_list(tags))


def seed_students(n: int, prefix: str = SEED_PREFIX) -> list[tuple[str, str]]:
    """Return the (service name, stage) of the n students seed_class makes."""
    return [(f"{prefix}-{i:03d}", SEED_STAGES[i % len(SEED_STAGES)]) for i in range(n)]


def seed_class(aws: Aws, n: int, on_progress: Progress = lambda _: None, prefix: str = SEED_PREFIX,
               workers: int = 4) -> list[str]:
    """Fill the sandbox with n students at mixed stages (SEED_STAGES); return their service names.

    Plain boto3 with tags, no real layers or compute; everything seeded carries lab:seeded=true.
    """
    if not aws.target.is_sandbox:
        raise LabError(_("seed-class creates demonstration resources: it runs against the sandbox only."),
                       "SandboxOnly")
    students = seed_students(n, prefix)
    account = aws.account_id()
    # Progress is reported from this thread, as the students finish: the workers see no language
    # (a context variable) and a page's status cannot be written from another thread.
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="seed") as pool:
        futures = [pool.submit(seed_student, aws, svc, stage, account) for svc, stage in students]
        for done, future in enumerate(as_completed(futures), 1):
            future.result()
            if done % 10 == 0 or done == n:
                on_progress(ngettext("Seeded {done}/{n} student", "Seeded {done}/{n} students", n)
                            .format(done=done, n=n))
    return [svc for svc, _stage in students]
