"""The code each exercise-4 step shows, with the student's values (the same ones the step uses)."""
from __future__ import annotations

import json

from ... import s3
from ...artifacts import SAMPLE_RECORD
from ...config import COURSE_BUCKET, PROJECT_ROOT
from ...errors import LabError
from ...lab import LabContext
from ...names import lab_tags, tag_list
from . import state as st
from .bundle import (APP_DIR, APP_PORT, BUNDLE_KEY, IMAGE_NAME, MODEL_KEY, PRESIGN_SECONDS, SSH_PORT, app_files,
                     user_data)
from .instance import client_token, first_generation, instance_endpoint, lab_instance, price_note
from .state import group_description, wanted_rules


def key_pair(ctx: LabContext) -> str:
    path = st.key_file(ctx)
    return f"""\
import os
import boto3

ec2 = boto3.client("ec2", region_name={ctx.region!r})
key = ec2.create_key_pair(KeyName={ctx.names.key_pair!r}, KeyType="rsa", KeyFormat="pem", TagSpecifications=[
    {{"ResourceType": "key-pair", "Tags": {tag_list(lab_tags(ctx.svc, 4))!r}}}])
path = {str(path)!r}
# the only time AWS hands out the private key: save it readable by you only (ssh refuses it otherwise)
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
with os.fdopen(fd, "w") as f:
    f.write(key["KeyMaterial"])
os.chmod(path, 0o400)   # same as: chmod 400 {path.name}
"""


def security_group(ctx: LabContext) -> str:
    try:
        wanted, _ = wanted_rules(ctx)
        rules = ",\n    ".join(repr(r.permission()) for r in wanted)
        mine = st.ssh_cidr(ctx)
    except LabError as err:
        rules, mine = f"# ({err.message})", "<your-ip>/32"
    where = "in the sandbox you are 127.0.0.1" if ctx.aws.target.is_sandbox else \
        "option ssh_cidr, by default from https://checkip.amazonaws.com"
    return f"""\
import boto3

ec2 = boto3.client("ec2", region_name={ctx.region!r})
vpc = ec2.describe_vpcs(Filters=[{{"Name": "is-default", "Values": ["true"]}}])["Vpcs"][0]["VpcId"]
group = ec2.create_security_group(GroupName={ctx.names.security_group!r}, VpcId=vpc,
                                  Description={group_description(ctx)!r}, TagSpecifications=[
    {{"ResourceType": "security-group", "Tags": {tag_list(lab_tags(ctx.svc, 4))!r}}}])["GroupId"]
# your address: {mine} ({where}); SSH ({SSH_PORT}) is never open to 0.0.0.0/0
ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
    {rules}
])
"""


def bundle(ctx: LabContext) -> str:
    bucket = ctx.names.ec2_bundle_bucket
    create = s3.create_bucket_kwargs(bucket, ctx.region)
    config = f", CreateBucketConfiguration={create['CreateBucketConfiguration']!r}" if "CreateBucketConfiguration" in create else ""
    app = APP_DIR.relative_to(PROJECT_ROOT)
    return f"""\
import tarfile
import boto3

s3 = boto3.client("s3", region_name={ctx.region!r})
s3.download_file({COURSE_BUCKET!r}, {MODEL_KEY!r}, "{app}/{MODEL_KEY}")
with tarfile.open("bundle.tar.gz", "w:gz") as tar:     # the app folder's files at the root
    for name in {[p.name for p in app_files()] + [MODEL_KEY]!r}:
        tar.add(f"{app}/{{name}}", arcname=name)
s3.create_bucket(Bucket={bucket!r}{config})
s3.put_public_access_block(Bucket={bucket!r}, PublicAccessBlockConfiguration={{
    "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}})
s3.put_bucket_tagging(Bucket={bucket!r}, Tagging={{"TagSet": {tag_list(lab_tags(ctx.svc, 4))!r}}})
s3.upload_file("bundle.tar.gz", {bucket!r}, {BUNDLE_KEY!r})
"""


def _commented(text: str) -> str:
    return "\n".join(f"# {line}" if line else "#" for line in text.splitlines())


def instance(ctx: LabContext) -> str:
    names = ctx.names
    try:
        token = client_token(ctx.svc, first_generation(ctx))
    except Exception:  # the code panel must render even when AWS does not answer
        token = client_token(ctx.svc, 0)
    tags = tag_list({"Name": names.instance_name, **lab_tags(ctx.svc, 4)})
    return f"""\
import boto3

ssm = boto3.client("ssm", region_name={ctx.region!r})
ami = ssm.get_parameter(Name={st.UBUNTU_PARAMETER!r})["Parameter"]["Value"]   # current Ubuntu 24.04 LTS
url = boto3.client("s3", region_name={ctx.region!r}).generate_presigned_url(
    "get_object", Params={{"Bucket": {names.ec2_bundle_bucket!r}, "Key": {BUNDLE_KEY!r}}}, ExpiresIn={PRESIGN_SECONDS})
user_data = open("user_data.sh").read().replace("BUNDLE_URL_HERE", url)   # the script below
ec2 = boto3.client("ec2", region_name={ctx.region!r})
group = ec2.describe_security_groups(Filters=[{{"Name": "group-name", "Values": [{names.security_group!r}]}}])["SecurityGroups"][0]
instance = ec2.run_instances(
    ImageId=ami, InstanceType={st.INSTANCE_TYPE.get(ctx)!r}, KeyName={names.key_pair!r}, MinCount=1, MaxCount=1,
    SecurityGroupIds=[group["GroupId"]], UserData=user_data, MetadataOptions={{"HttpTokens": "required"}},
    ClientToken={token!r},   # run twice at once, still one instance (a new token once it is terminated)
    TagSpecifications=[{{"ResourceType": "instance", "Tags": {tags!r}}}],
)["Instances"][0]
ec2.get_waiter("instance_running").wait(InstanceIds=[instance["InstanceId"]])
# {price_note(ctx)}

# user_data.sh:
{_commented(user_data("BUNDLE_URL_HERE"))}"""


def health(ctx: LabContext) -> str:
    where = "the sandbox's local address for the instance" if ctx.aws.target.is_sandbox else \
        f"http://<public-ip>:{APP_PORT}"
    return f"""\
import time
import boto3
import requests

ec2 = boto3.client("ec2", region_name={ctx.region!r})
instance = ec2.describe_instances(Filters=[{{"Name": "tag:Name", "Values": [{ctx.names.instance_name!r}]}},
    {{"Name": "instance-state-name", "Values": ["running"]}}])["Reservations"][0]["Instances"][0]
base = f"http://{{instance['PublicIpAddress']}}:{APP_PORT}"   # here: {where}
for _ in range(60):                 # installing Docker and building the image takes a few minutes
    try:
        if requests.get(base + "/health", timeout=3).ok:
            break
    except requests.ConnectionError:
        pass
    time.sleep(10)
"""


def predict(ctx: LabContext) -> str:
    try:
        base = instance_endpoint(ctx) or f"http://<public-ip>:{APP_PORT}"
    except Exception:  # the code panel must render even when AWS does not answer
        base = f"http://<public-ip>:{APP_PORT}"
    return f"""\
import requests

base = {base!r}   # the instance's address (public IP, port {APP_PORT})
record = {json.dumps(SAMPLE_RECORD, indent=4)}
answer = requests.post(base + "/predict", json=record, timeout=5)
print(answer.status_code, answer.json())   # {{"label": ..., "probability": ..., "model_version": ...}}
"""


def manual_commands(ctx: LabContext) -> str:
    """Return the handout's manual path (ssh, scp, docker), corrected, with the student's values."""
    current = lab_instance(ctx)
    ip = (current.public_ip if current else None) or "<public-ip>"
    key = st.key_file(ctx)
    model = ctx.workdir / "course" / MODEL_KEY
    return f"""\
# on your computer: the key must be readable by you only, or ssh refuses it
chmod 400 {key}
# copy the app and the model (downloaded in exercise 2) to the instance
scp -i {key} -r {APP_DIR.relative_to(PROJECT_ROOT)} ubuntu@{ip}:~/
scp -i {key} {model} ubuntu@{ip}:~/ec2_app/model.onnx
ssh -i {key} ubuntu@{ip}

# on the instance (Ubuntu 24.04 LTS; the handout's 20.04 is end of life)
sudo apt-get update && sudo apt-get install -y docker.io
cd ~/ec2_app
sudo docker build -t {IMAGE_NAME} .
sudo docker run -d --name {IMAGE_NAME} --restart unless-stopped -p {APP_PORT}:{APP_PORT} {IMAGE_NAME}
curl -s localhost:{APP_PORT}/health

# back on your computer (port {APP_PORT} is open to your address only)
curl -s -X POST http://{ip}:{APP_PORT}/predict -H 'Content-Type: application/json' \\
     -d '{json.dumps(SAMPLE_RECORD)}'
"""
