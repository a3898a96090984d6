"""The sandbox is closed to strangers: only SigV4 requests signed with its keys (or keys it issued),
from its own host names, with no foreign Origin; no CORS headers ever; only the health route is open."""
from __future__ import annotations

import datetime
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import stat
import subprocess
import urllib.error
import urllib.request
import zlib
from base64 import b64encode
from urllib.parse import urlsplit

import boto3
import botocore.auth
import pytest
from botocore import UNSIGNED
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from backend.aws import Aws, Target, sandbox_credentials
from backend.config import COURSE_BUCKET, sandbox_credentials_path
from backend.sandbox import HEALTH_PATH
from backend.sandbox import guard as guard_module

pytestmark = pytest.mark.sandbox

REGION = "eu-central-1"
EVIL = "https://evil.example"


# --- helpers -----------------------------------------------------------------------------------

def keys() -> Credentials:
    creds = sandbox_credentials()
    return Credentials(creds["aws_access_key_id"], creds["aws_secret_access_key"])


def sign(url: str, method: str = "GET", *, service: str = "s3", body: bytes = b"",
         headers: dict[str, str] | None = None, credentials: Credentials | None = None) -> dict[str, str]:
    """The headers botocore sends for this request (S3 signs its payload's SHA-256 in a header)."""
    request = AWSRequest(method, url, data=body, headers=dict(headers or {}))
    signer = S3SigV4Auth if service == "s3" else SigV4Auth
    signer(credentials or keys(), service, REGION).add_auth(request)
    return dict(request.headers)


def send(sandbox, method: str, target: str, *, headers: dict[str, str] | None = None,
         body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """Send exactly these headers (Host included when given) to the sandbox; (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=30)
    try:
        conn.putrequest(method, target, skip_host="Host" in (headers or {}), skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if body or method in ("PUT", "POST"):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def error_code(body: bytes) -> str:
    if body.startswith(b"{"):
        return json.loads(body)["__type"]
    match = re.search(rb"<Code>([^<]+)</Code>", body)
    return match.group(1).decode() if match else body[:200].decode(errors="replace")


def no_cors(headers: dict[str, str]) -> bool:
    return not any(name.startswith("access-control-") for name in headers)


def code_of(call) -> str:
    with pytest.raises(ClientError) as err:
        call()
    return err.value.response["Error"]["Code"]


def client(sandbox, service: str, **credentials):
    return boto3.client(service, endpoint_url=sandbox.url, region_name=REGION,
                        config=Config(retries={"max_attempts": 1}), **credentials)


@pytest.fixture
def bucket(sandbox_aws, unique) -> str:
    name = unique("guard")
    sandbox_aws.client("s3").create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return name


# --- the keys ----------------------------------------------------------------------------------

def test_keys_are_a_private_per_install_secret():
    first = sandbox_credentials()
    path = sandbox_credentials_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert re.fullmatch(r"AKIA[A-Z2-7]{16}", first["aws_access_key_id"])
    assert len(first["aws_secret_access_key"]) >= 40 and first["aws_secret_access_key"] != "testing"
    assert sandbox_credentials() == first  # made once, then read
    exports = Aws(Target.sandbox(endpoint_url="http://127.0.0.1:4566")).shell_exports()
    assert exports == (f"export AWS_ENDPOINT_URL=http://127.0.0.1:4566 AWS_ACCESS_KEY_ID={first['aws_access_key_id']} "
                       f"AWS_SECRET_ACCESS_KEY={first['aws_secret_access_key']} AWS_DEFAULT_REGION=eu-central-1")


def test_public_test_keys_are_refused(sandbox):
    testing = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    assert code_of(lambda: client(sandbox, "s3", **testing).list_buckets()) == "InvalidAccessKeyId"
    assert code_of(lambda: client(sandbox, "sts", **testing).get_caller_identity()) == "InvalidClientTokenId"
    assert code_of(lambda: client(sandbox, "lambda", **testing).list_functions()) == "UnrecognizedClientException"


def test_wrong_secret_is_refused(sandbox):
    wrong = {"aws_access_key_id": keys().access_key, "aws_secret_access_key": "not-the-secret"}
    assert code_of(lambda: client(sandbox, "s3", **wrong).list_buckets()) == "SignatureDoesNotMatch"
    assert code_of(lambda: client(sandbox, "sts", **wrong).get_caller_identity()) == "SignatureDoesNotMatch"
    assert code_of(lambda: client(sandbox, "logs", **wrong).describe_log_groups()) == "InvalidSignatureException"


# --- no stranger gets in -----------------------------------------------------------------------

def test_unsigned_requests_are_refused(sandbox):
    status, headers, body = send(sandbox, "GET", "/")
    assert (status, error_code(body)) == (403, "AccessDenied")
    status, _, body = send(sandbox, "POST", "/", body=b"{}", headers={
        "X-Amz-Target": "Logs_20140328.DescribeLogGroups", "Content-Type": "application/x-amz-json-1.1"})
    assert (status, error_code(body)) == (403, "MissingAuthenticationTokenException")
    anonymous = boto3.client("s3", endpoint_url=sandbox.url, region_name=REGION,
                             config=Config(signature_version=UNSIGNED))
    assert code_of(lambda: anonymous.list_objects_v2(Bucket=COURSE_BUCKET)) == "AccessDenied"


def test_foreign_origin_is_refused_and_no_reply_has_cors_headers(sandbox):
    url = f"{sandbox.url}/"
    status, headers, body = send(sandbox, "GET", "/", headers={**sign(url), "Origin": EVIL})
    assert (status, error_code(body)) == (403, "AccessDenied")
    assert no_cors(headers)
    # The same request without a foreign Origin passes; moto's own CORS headers are stripped.
    status, headers, _ = send(sandbox, "GET", "/", headers=sign(url))
    assert status == 200 and no_cors(headers)
    status, headers, _ = send(sandbox, "GET", "/", headers={**sign(url), "Origin": "http://localhost:8501"})
    assert status == 200 and no_cors(headers)


def test_cors_preflight_is_refused(sandbox):
    for origin in (EVIL, "http://localhost:8501"):
        status, headers, body = send(sandbox, "OPTIONS", f"/{COURSE_BUCKET}", headers={
            "Origin": origin, "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "authorization"})
        assert (status, error_code(body)) == (403, "AccessDenied")
        assert no_cors(headers)


def test_dashboard_origins_are_configurable(monkeypatch):
    monkeypatch.delenv("MLOPS_LAB_DASHBOARD_ORIGINS", raising=False)
    assert guard_module.dashboard_origins() == {"http://localhost:8501", "http://127.0.0.1:8501"}
    monkeypatch.setenv("MLOPS_LAB_DASHBOARD_ORIGINS", "http://localhost:9000/, http://127.0.0.1:9000")
    assert guard_module.dashboard_origins() == {"http://localhost:9000", "http://127.0.0.1:9000"}


@pytest.mark.parametrize("host", ["evil.example:{port}", "127.0.0.1:1", "rebind.127.0.0.1.nip.io:{port}", "evil.example"])
def test_foreign_host_is_refused_even_when_signed(sandbox, host):
    host = host.format(port=sandbox.port)
    headers = sign(f"http://{host}/")  # a valid signature for that host: only the Host rule refuses it
    status, reply_headers, body = send(sandbox, "GET", "/", headers={**headers, "Host": host})
    assert (status, error_code(body)) == (403, "AccessDenied")
    assert no_cors(reply_headers)
    status, _, _ = send(sandbox, "GET", HEALTH_PATH, headers={"Host": host})
    assert status == 403


def test_localhost_names_are_the_sandbox_own(sandbox):
    for host in (f"localhost:{sandbox.port}", f"127.0.0.1:{sandbox.port}"):
        status, _, _ = send(sandbox, "GET", "/", headers={**sign(f"http://{host}/"), "Host": host})
        assert status == 200


def test_health_route_is_open_and_nothing_else(sandbox):
    status, headers, body = send(sandbox, "GET", HEALTH_PATH)
    assert status == 200 and json.loads(body)["sandbox"] == "mlops-lab-sandbox" and no_cors(headers)
    assert send(sandbox, "POST", HEALTH_PATH)[0] == 403


def test_moto_api_is_closed_to_unsigned_requests(sandbox, sandbox_aws):
    status, _, body = send(sandbox, "POST", "/moto-api/reset")
    assert (status, error_code(body)) == (403, "AccessDenied")
    assert send(sandbox, "GET", "/moto-api/")[0] == 403
    assert send(sandbox, "GET", "/moto-api/data.json", headers={"Origin": EVIL})[0] == 403
    sandbox_aws.client("s3").head_bucket(Bucket=COURSE_BUCKET)  # nothing was reset


# --- signatures are really checked -------------------------------------------------------------

def test_tampered_s3_body_is_refused(sandbox, sandbox_aws, bucket):
    url = f"{sandbox.url}/{bucket}/note.txt"
    headers = sign(url, "PUT", body=b"hello")
    status, _, body = send(sandbox, "PUT", f"/{bucket}/note.txt", headers=headers, body=b"jello")
    assert (status, error_code(body)) == (400, "XAmzContentSHA256Mismatch")
    status, _, _ = send(sandbox, "PUT", f"/{bucket}/note.txt", headers=headers, body=b"hello")
    assert status == 200
    assert sandbox_aws.client("s3").get_object(Bucket=bucket, Key="note.txt")["Body"].read() == b"hello"


def test_tampered_json_body_path_or_header_is_refused(sandbox, sandbox_aws, bucket, unique):
    group = unique("/guard/group")
    body = json.dumps({"logGroupName": group}).encode()
    headers = sign(f"{sandbox.url}/", "POST", service="logs", body=body, headers={
        "X-Amz-Target": "Logs_20140328.CreateLogGroup", "Content-Type": "application/x-amz-json-1.1"})
    tampered = body.replace(b"group", b"grape")
    status, _, reply = send(sandbox, "POST", "/", headers=headers, body=tampered)
    assert (status, error_code(reply)) == (403, "InvalidSignatureException")
    assert sandbox_aws.client("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []
    # Another path, or a changed signed header, with the signature of the original request.
    headers = sign(f"{sandbox.url}/{bucket}/a")
    status, _, reply = send(sandbox, "GET", f"/{bucket}/b", headers=headers)
    assert (status, error_code(reply)) == (403, "SignatureDoesNotMatch")
    status, _, reply = send(sandbox, "GET", f"/{bucket}/a", headers={**headers, "X-Amz-Date": "20200101T000000Z"})
    assert status == 403


@pytest.mark.parametrize("minutes", [-20, 20])
def test_request_more_than_15_minutes_off_is_refused(sandbox, monkeypatch, minutes):
    skewed = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) + datetime.timedelta(minutes=minutes)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: skewed)
    aws = Aws(Target.sandbox(endpoint_url=sandbox.url))
    assert code_of(lambda: aws.client("s3").list_buckets()) == "RequestTimeTooSkewed"
    assert code_of(lambda: aws.client("sts").get_caller_identity()) == "SignatureDoesNotMatch"


def test_presigned_urls_work_and_tampered_ones_are_refused(sandbox, sandbox_aws, bucket, monkeypatch):
    s3 = sandbox_aws.client("s3")
    s3.put_object(Bucket=bucket, Key="bundle.tar.gz", Body=b"the bundle")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "bundle.tar.gz"}, ExpiresIn=600)
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.read() == b"the bundle"
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up.txt"}, ExpiresIn=600)
    # (urllib's default form Content-Type would make moto read the body as a form, guard or not)
    upload = urllib.request.Request(put_url, data=b"uploaded", method="PUT",
                                    headers={"Content-Type": "application/octet-stream"})
    urllib.request.urlopen(upload, timeout=10).close()
    assert s3.get_object(Bucket=bucket, Key="up.txt")["Body"].read() == b"uploaded"

    parts = urlsplit(url)
    for tampered in (url.replace("bundle.tar.gz", "up.txt"), url.replace("X-Amz-Expires=600", "X-Amz-Expires=6000"),
                     url[:-4] + ("0000" if not url.endswith("0000") else "1111")):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(tampered, timeout=10)
        assert err.value.code == 403 and error_code(err.value.read()) == "SignatureDoesNotMatch"
    status, _, _ = send(sandbox, "GET", f"{parts.path}?{parts.query}", headers={"Origin": EVIL})
    assert status == 403  # a page cannot use even a valid presigned URL through fetch()

    long_ago = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(hours=2)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: long_ago)
    expired = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "bundle.tar.gz"}, ExpiresIn=3600)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(expired, timeout=10)
    assert err.value.code == 403 and b"Request has expired" in err.value.read()


# --- what real clients send still works --------------------------------------------------------

def test_boto3_flow_through_target_sandbox(sandbox, bucket, tmp_path):
    s3 = Aws(Target.sandbox(endpoint_url=sandbox.url)).client("s3")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(9 * 1024 * 1024))  # over boto3's 8 MB threshold: a multipart upload
    s3.upload_file(str(big), bucket, "big.bin")
    assert s3.head_object(Bucket=bucket, Key="big.bin")["ETag"].strip('"').endswith("-2")
    s3.put_object(Bucket=bucket, Key="dir/odd name+=&é.csv", Body=b"a,b\n1,2\n", ChecksumAlgorithm="SHA256")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="dir/odd name+")["Contents"]
    assert [o["Key"] for o in listed] == ["dir/odd name+=&é.csv"]
    assert s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == big.read_bytes()
    assert s3.get_object(Bucket=bucket, Key="dir/odd name+=&é.csv")["Body"].read() == b"a,b\n1,2\n"


def test_other_services_paths_with_encoded_characters(sandbox_aws):
    lam = sandbox_aws.client("lambda")
    arn = f"arn:aws:lambda:{REGION}:123456789012:function:no-such-function"
    assert code_of(lambda: lam.get_function(FunctionName=arn)) == "ResourceNotFoundException"


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed")
def test_aws_cli_copies_through_the_exported_keys(sandbox, bucket, tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(9 * 1024 * 1024))
    exports = Aws(Target.sandbox(endpoint_url=sandbox.url)).client_env()
    env = {**os.environ, **exports, "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}
    env.pop("AWS_SESSION_TOKEN", None)
    done = subprocess.run(["aws", "s3", "cp", str(big), f"s3://{bucket}/cli.bin"], env=env,
                          capture_output=True, text=True, timeout=120)
    if "command not found" in done.stderr or done.returncode == 127:
        pytest.skip("the AWS CLI does not run here")
    assert done.returncode == 0, done.stderr
    s3 = Aws(Target.sandbox(endpoint_url=sandbox.url)).client("s3")
    assert s3.head_object(Bucket=bucket, Key="cli.bin")["ContentLength"] == big.stat().st_size


def _chunked(data: bytes, chunk: int, key: bytes, stamp: str, scope: str, seed: str, *,
             trailer: str | None = None) -> bytes:
    """An aws-chunked body with signed chunks (and a signed trailer), as the AWS SDKs stream it."""
    out, previous = [], seed
    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)] + [b""]
    for piece in pieces:
        sig = hmac.new(key, "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", stamp, scope, previous,
                                       hashlib.sha256(b"").hexdigest(),
                                       hashlib.sha256(piece).hexdigest()]).encode(), hashlib.sha256).hexdigest()
        out.append(f"{len(piece):x};chunk-signature={sig}\r\n".encode() + piece + (b"\r\n" if piece else b""))
        previous = sig
    if trailer is None:
        out.append(b"\r\n")
    else:
        sig = hmac.new(key, "\n".join(["AWS4-HMAC-SHA256-TRAILER", stamp, scope, previous,
                                       hashlib.sha256(f"{trailer}\n".encode()).hexdigest()]).encode(),
                       hashlib.sha256).hexdigest()
        out.append(f"{trailer}\r\nx-amz-trailer-signature:{sig}\r\n\r\n".encode())
    return b"".join(out)


@pytest.mark.parametrize("mode", [guard_module.STREAMING_SIGNED, guard_module.STREAMING_SIGNED_TRAILER])
def test_streaming_signed_chunks_are_checked(sandbox, sandbox_aws, bucket, mode):
    data = os.urandom(200_000)
    checksum = b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    extra = {"x-amz-trailer": "x-amz-checksum-crc32"} if mode.endswith("TRAILER") else {}
    base = {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data)),
            "X-Amz-Content-SHA256": mode, **extra}
    url = f"{sandbox.url}/{bucket}/streamed.bin"
    request = AWSRequest("PUT", url, headers=base)
    SigV4Auth(keys(), "s3", REGION).add_auth(request)  # the header keeps the STREAMING-… marker
    headers = dict(request.headers)
    seed = headers["Authorization"].rsplit("Signature=", 1)[1]
    stamp = headers["X-Amz-Date"]
    key = guard_module._signing_key(keys().secret_key, stamp[:8], REGION, "s3")
    scope = f"{stamp[:8]}/{REGION}/s3/aws4_request"
    trailer = f"x-amz-checksum-crc32:{checksum}" if extra else None
    body = _chunked(data, 65536, key, stamp, scope, seed, trailer=trailer)

    tampered = body.replace(data[70_000:70_010], bytes(10))
    status, _, reply = send(sandbox, "PUT", f"/{bucket}/streamed.bin", headers=headers, body=tampered)
    assert (status, error_code(reply)) == (403, "SignatureDoesNotMatch")
    if trailer:
        forged = body.replace(checksum.encode(), b"AAAAAA==")
        assert send(sandbox, "PUT", f"/{bucket}/streamed.bin", headers=headers, body=forged)[0] == 403
    status, _, reply = send(sandbox, "PUT", f"/{bucket}/streamed.bin", headers=headers, body=body)
    assert status == 200, reply
    assert sandbox_aws.client("s3").get_object(Bucket=bucket, Key="streamed.bin")["Body"].read() == data


def test_streaming_unsigned_payload_with_checksum_trailer_is_accepted(sandbox, sandbox_aws, bucket):
    data = b"x" * 100_000
    checksum = b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    body = (f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n" +
            f"x-amz-checksum-crc32:{checksum}\r\n\r\n".encode())
    headers = {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data)),
               "x-amz-trailer": "x-amz-checksum-crc32", "X-Amz-Content-SHA256": guard_module.STREAMING_UNSIGNED_TRAILER}
    request = AWSRequest("PUT", f"{sandbox.url}/{bucket}/trailer.bin", headers=headers)
    SigV4Auth(keys(), "s3", REGION).add_auth(request)
    status, _, reply = send(sandbox, "PUT", f"/{bucket}/trailer.bin", headers=dict(request.headers), body=body)
    assert status == 200, reply
    assert sandbox_aws.client("s3").get_object(Bucket=bucket, Key="trailer.bin")["Body"].read() == data


def test_chunk_signatures_follow_the_aws_documentation_example():
    # docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html, "Example: PUT Object".
    signed = guard_module._Signed("AKIAIOSFODNN7EXAMPLE", "20130524", "us-east-1", "s3", [], "", "20130524T000000Z",
                                  None, False)
    key = guard_module._signing_key("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524", "us-east-1", "s3")
    sigs = ["ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
            "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
            "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"]
    body = (f"10000;chunk-signature={sigs[0]}\r\n".encode() + b"a" * 65536 + b"\r\n" +
            f"400;chunk-signature={sigs[1]}\r\n".encode() + b"a" * 1024 + b"\r\n" +
            f"0;chunk-signature={sigs[2]}\r\n\r\n".encode())
    seed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    guard_module._verify_chunks(body, signed, key, seed, signed_chunks=True, trailer=False)
    with pytest.raises(guard_module.Refused):
        guard_module._verify_chunks(body.replace(b"a" * 1024, b"b" * 1024), signed, key, seed,
                                    signed_chunks=True, trailer=False)


# --- keys the sandbox issued -------------------------------------------------------------------

def test_function_credentials_work_only_with_their_session_token(sandbox, sandbox_aws, make_function):
    source = ("import os\ndef handler(event, context):\n    return {k: os.environ[k] for k in "
              "('AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN')}\n")
    name = make_function({"app.py": source})
    creds = json.loads(sandbox_aws.client("lambda").invoke(FunctionName=name)["Payload"].read())
    assert creds["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    good = {"aws_access_key_id": creds["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": creds["AWS_SECRET_ACCESS_KEY"]}
    identity = client(sandbox, "sts", **good, aws_session_token=creds["AWS_SESSION_TOKEN"]).get_caller_identity()
    assert ":assumed-role/" in identity["Arn"]
    forged = creds["AWS_SESSION_TOKEN"][:-4] + "AAAA"
    assert code_of(lambda: client(sandbox, "sts", **good, aws_session_token=forged).get_caller_identity()) == \
        "InvalidClientTokenId"
    assert code_of(lambda: client(sandbox, "sts", **good).get_caller_identity()) == "InvalidClientTokenId"


def test_keys_a_student_makes_in_the_sandbox_work(sandbox, sandbox_aws, unique):
    iam = sandbox_aws.client("iam")
    user = unique("student")
    iam.create_user(UserName=user)
    made = iam.create_access_key(UserName=user)["AccessKey"]
    mine = {"aws_access_key_id": made["AccessKeyId"], "aws_secret_access_key": made["SecretAccessKey"]}
    assert client(sandbox, "sts", **mine).get_caller_identity()["Arn"].endswith(f":user/{user}")
    iam.update_access_key(UserName=user, AccessKeyId=made["AccessKeyId"], Status="Inactive")
    assert code_of(lambda: client(sandbox, "sts", **mine).get_caller_identity()) == "InvalidClientTokenId"
