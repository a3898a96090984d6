"""The code each exercise-4 step shows, with the student's values (the same ones the step uses).

Pasted in order, each as a Python script run from the lab folder, they rebuild the exercise: the
bundle step copies the app's sources (this project's ec2_app/) into the lab folder, so every later
file a snippet reads is one an earlier snippet wrote there.
"""
from __future__ import annotations

from pathlib import Path

import dataclasses
import json

from ... import s3
from ...artifacts import SAMPLE_RECORD
from ...config import COURSE_BUCKET
from ...errors import LabError
from ...i18n import _
from ...lab import LabContext
from ...names import lab_tags, tag_list
from ..ex2_s3.state import course_dir
from . import state as st
from .bundle import APP_DIR, APP_PORT, BUNDLE_KEY, IMAGE_NAME, MODEL_KEY, PRESIGN_SECONDS, SSH_PORT, app_files, \
    user_data
from .instance import HEALTH_BUDGET_S, HEALTH_INTERVAL_S, client_token, first_generation, lab_instance, price_note
from .state import CHECKIP_URL, group_description, wanted_rules

NUMBER = 4
# Where the sandbox publishes each instance's local address (backend/sandbox/server.py HEALTH_PATH; a
# test pins the two together: exercises do not import the sandbox).
SANDBOX_HEALTH_PATH = "/_lab/health"
# A documentation address (RFC 5737) standing in for "you" while the rules are rendered.
_PROBE_CIDR = "192.0.2.1/32"
_URL_MARK = "BUNDLE-URL-MARK"


def _tags(ctx: LabContext, **extra: str) -> str:
    return repr(tag_list({**extra, **lab_tags(ctx.svc, NUMBER)}))


def key_file_name(ctx: LabContext) -> str:
    """The private key's path relative to the lab folder (where the step saves it too)."""
    return st.key_file(ctx).relative_to(ctx.workdir).as_posix()


def key_pair(ctx: LabContext) -> str:
    path = key_file_name(ctx)
    # Comments follow the language; the code does not.
    once = _("The only time AWS hands out the private key: save it readable by you only (ssh refuses it otherwise).")
    folder = _("one folder per account and region")
    same = _("same as: {command}").format(command=f"chmod 400 {path}")
    return f"""\
{ctx.folder_note()}
import os
import boto3

ec2 = boto3.client("ec2", region_name={ctx.region!r})
key = ec2.create_key_pair(KeyName={ctx.names.key_pair!r}, KeyType="rsa", KeyFormat="pem", TagSpecifications=[
    {{"ResourceType": "key-pair", "Tags": {_tags(ctx)}}}])
# {once}
os.makedirs({str(Path(path).parent)!r}, exist_ok=True)   # {folder}
fd = os.open({path!r}, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
with os.fdopen(fd, "w") as f:
    f.write(key["KeyMaterial"])
os.chmod({path!r}, 0o400)   # {same}
"""


def security_group(ctx: LabContext) -> str:
    # The rules are the step's own (wanted_rules), rendered with a stand-in address that becomes `mine`.
    probe = dataclasses.replace(ctx, options={**ctx.options, st.SSH_CIDR.name: _PROBE_CIDR})
    wanted, _revoke = wanted_rules(probe)
    rules = ",\n    ".join(repr(r.permission()) for r in wanted).replace(repr(_PROBE_CIDR), "mine")
    try:
        mine = f"mine = {st.ssh_cidr(ctx)!r}   # " + (
            _("in the sandbox you are this machine") if ctx.aws.target.is_sandbox else
            _("option {option}, by default your public address from {url}").format(option=st.SSH_CIDR.name,
                                                                                  url=CHECKIP_URL))
        extra_import = ""
    except LabError as err:  # no address now (or a wrong option): the snippet asks when it runs
        mine = (f"# ({err.message})\n"
                f'mine = requests.get({CHECKIP_URL!r}, timeout=5).text.strip() + "/32"   # '
                + _("your public address"))
        extra_import = "import requests\n"
    rules_note = _("SSH ({ssh}) only from you, never from 0.0.0.0/0; the API ({app}) from you (or the class, by "
                   "option)").format(ssh=SSH_PORT, app=APP_PORT)
    return f"""\
{ctx.folder_note()}
import boto3
{extra_import}
ec2 = boto3.client("ec2", region_name={ctx.region!r})
vpc = ec2.describe_vpcs(Filters=[{{"Name": "is-default", "Values": ["true"]}}])["Vpcs"][0]["VpcId"]
group = ec2.create_security_group(GroupName={ctx.names.security_group!r}, VpcId=vpc,
                                  Description={group_description(ctx)!r}, TagSpecifications=[
    {{"ResourceType": "security-group", "Tags": {_tags(ctx)}}}])["GroupId"]
{mine}
# {rules_note}
ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
    {rules}
])
"""


def bundle(ctx: LabContext) -> str:
    bucket = ctx.names.ec2_bundle_bucket
    create = s3.create_bucket_kwargs(bucket, ctx.region)
    config = (f", CreateBucketConfiguration={create['CreateBucketConfiguration']!r}"
              if "CreateBucketConfiguration" in create else "")
    app = APP_DIR.name
    files = [p.name for p in app_files()] + [MODEL_KEY]
    sources = _("The app's sources come with this project: copy them into the lab folder, the course's model next "
                "to them.")
    root = _("the files at the root, where the Dockerfile expects them")
    private = _("A private bucket: the instance fetches the bundle through a presigned URL.")
    return f"""\
{ctx.folder_note()}
import shutil
import tarfile
import boto3

# {sources}
shutil.copytree({str(APP_DIR)!r}, {app!r}, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
s3 = boto3.client("s3", region_name={ctx.region!r})
s3.download_file({COURSE_BUCKET!r}, {MODEL_KEY!r}, {f"{app}/{MODEL_KEY}"!r})
with tarfile.open("bundle.tar.gz", "w:gz") as tar:   # {root}
    for name in {files!r}:
        tar.add(f"{app}/{{name}}", arcname=name)
# {private}
s3.create_bucket(Bucket={bucket!r}{config})
s3.put_public_access_block(Bucket={bucket!r}, PublicAccessBlockConfiguration={dict(s3.ALL_PUBLIC_ACCESS_BLOCKED)!r})
s3.put_bucket_tagging(Bucket={bucket!r}, Tagging={{"TagSet": {_tags(ctx)}}})
s3.upload_file("bundle.tar.gz", {bucket!r}, {BUNDLE_KEY!r})
"""


def _script_literal(url_expression: str) -> str:
    """The start-up script as a Python f-string literal whose bundle URL is `url_expression`."""
    script = user_data(_URL_MARK).replace("{", "{{").replace("}", "}}")
    assert '"""' not in script and "\\" not in script, "the start-up script must fit a plain triple-quoted string"
    return 'f"""\\\n' + script.replace(_URL_MARK, "{" + url_expression + "}") + '"""'


def instance(ctx: LabContext) -> str:
    names = ctx.names
    try:
        token = client_token(ctx.svc, first_generation(ctx))
    except Exception:  # the code panel must render even when AWS does not answer
        token = client_token(ctx.svc, 0)
    current = _("current Ubuntu 24.04 LTS")
    link = _("The instance downloads the bundle through this link (valid {minutes} min): the bucket stays "
             "private.").format(minutes=PRESIGN_SECONDS // 60)
    script = _("The start-up script (user data): runs once, as root, at the first boot.")
    once = _("run twice at once, still one instance (a new token once it is terminated)")
    return f"""\
{ctx.folder_note()}
import boto3

ssm = boto3.client("ssm", region_name={ctx.region!r})
ami = ssm.get_parameter(Name={st.UBUNTU_PARAMETER!r})["Parameter"]["Value"]   # {current}
# {link}
url = boto3.client("s3", region_name={ctx.region!r}).generate_presigned_url(
    "get_object", Params={{"Bucket": {names.ec2_bundle_bucket!r}, "Key": {BUNDLE_KEY!r}}}, ExpiresIn={PRESIGN_SECONDS})
# {script}
user_data = {_script_literal("url")}
ec2 = boto3.client("ec2", region_name={ctx.region!r})
group = ec2.describe_security_groups(Filters=[{{"Name": "group-name", "Values": [{names.security_group!r}]}}])
instance = ec2.run_instances(
    ImageId=ami, InstanceType={st.INSTANCE_TYPE.get(ctx)!r}, KeyName={names.key_pair!r}, MinCount=1, MaxCount=1,
    SecurityGroupIds=[group["SecurityGroups"][0]["GroupId"]], UserData=user_data,
    MetadataOptions={{"HttpTokens": "required"}},
    ClientToken={token!r},   # {once}
    TagSpecifications=[{{"ResourceType": "instance", "Tags": {_tags(ctx, Name=names.instance_name)}}}],
)["Instances"][0]
ec2.get_waiter("instance_running").wait(InstanceIds=[instance["InstanceId"]])
print(instance["InstanceId"], "is running")
# {price_note(ctx)}
"""


def _find_api(ctx: LabContext) -> str:
    """Code that sets `base`: where the running instance's API answers."""
    find = f"""\
ec2 = boto3.client("ec2", region_name={ctx.region!r})
instance = ec2.describe_instances(Filters=[{{"Name": "tag:Name", "Values": [{ctx.names.instance_name!r}]}},
    {{"Name": "instance-state-name", "Values": ["running"]}}])["Reservations"][0]["Instances"][0]
"""
    on_aws = f"""base = f"http://{{instance['PublicIpAddress']}}:{APP_PORT}\""""
    if not ctx.aws.target.is_sandbox:
        return find + on_aws + "   # " + _("the instance's public IP") + "\n"
    served = _("The sandbox serves the instance's port {port} at a local address it publishes; on AWS it is:").format(
        port=APP_PORT)
    return find + f"""\
# {served}
# {on_aws}
lab = requests.get(ec2.meta.endpoint_url + {SANDBOX_HEALTH_PATH!r}, timeout=5).json()
base = lab["compute"]["ec2"]["instances"][instance["InstanceId"]]["address"]
"""


def health(ctx: LabContext) -> str:
    kind = "sandbox" if ctx.aws.target.is_sandbox else "aws"
    interval = HEALTH_INTERVAL_S[kind]
    attempts = int(HEALTH_BUDGET_S[kind] / interval)
    before = _("The instance runs before the app does: installing Docker and building the image take minutes on AWS.")
    return f"""\
{ctx.folder_note()}
import time
import boto3
import requests

{_find_api(ctx)}# {before}
for _ in range({attempts}):
    try:
        if requests.get(base + "/health", timeout=3).ok:
            print(base, "answers /health")
            break
    except requests.RequestException:
        pass
    time.sleep({interval})
else:
    raise SystemExit(base + "/health did not answer: read the instance's console output")
"""


def predict(ctx: LabContext) -> str:
    return f"""\
{ctx.folder_note()}
import boto3
import requests

{_find_api(ctx)}record = {json.dumps(SAMPLE_RECORD, indent=4)}
answer = requests.post(base + "/predict", json=record, timeout=5)
answer.raise_for_status()
print(answer.json())   # {{"label": ..., "probability": ..., "model_version": ...}}
"""


def manual_commands(ctx: LabContext) -> str:
    """Return the handout's manual path (ssh, scp, docker), corrected, with the student's values."""
    current = lab_instance(ctx)
    ip = (current.public_ip if current else None) or "<public-ip>"
    key = key_file_name(ctx)
    model = (course_dir(ctx) / MODEL_KEY).relative_to(ctx.workdir).as_posix()
    here = _("on your computer, in your lab folder; the key must be readable by you only, or ssh refuses it")
    copy = _("copy the app (this project's {folder}/) and the model (downloaded in exercise 2) to the "
             "instance").format(folder=APP_DIR.name)
    there = _("on the instance (Ubuntu 24.04 LTS; the handout's 20.04 is end of life)")
    back = _("back on your computer (port {port} is open to your address only)").format(port=APP_PORT)
    return f"""\
# {here}
cd {ctx.workdir}
chmod 400 {key}
# {copy}
scp -i {key} -r {APP_DIR} ubuntu@{ip}:~/
scp -i {key} {model} ubuntu@{ip}:~/{APP_DIR.name}/{MODEL_KEY}
ssh -i {key} ubuntu@{ip}

# {there}
sudo apt-get update && sudo apt-get install -y docker.io
cd ~/{APP_DIR.name}
sudo docker build -t {IMAGE_NAME} .
sudo docker run -d --name {IMAGE_NAME} --restart unless-stopped -p {APP_PORT}:{APP_PORT} {IMAGE_NAME}
curl -s localhost:{APP_PORT}/health

# {back}
curl -s -X POST http://{ip}:{APP_PORT}/predict -H 'Content-Type: application/json' \\
     -d '{json.dumps(SAMPLE_RECORD)}'
"""
