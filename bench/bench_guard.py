"""The sandbox's guard (signature, Host, Origin checks) against plain moto, measured in the same run.

One process serves the same moto state twice: through the Sandbox (guarded) and through a bare
MotoWsgiServer on another port (moto as before the guard). Requests alternate between the two so that
load on the machine hits both alike. Prints requests per second for S3 HeadBucket, and the time of a
50 MB put_object (the guard reads and hashes the body), with the guarded/plain ratios.
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET_RATIO = 0.75  # guarded HeadBucket throughput at least this share of plain moto's
REQUESTS = 1500
BIG = 50 * 1024 * 1024


def main() -> int:
    os.environ.setdefault("MLOPS_LAB_HOME", tempfile.mkdtemp(prefix="bench-guard-"))
    import boto3
    from botocore.config import Config

    from backend.aws import Aws, Target, sandbox_credentials
    from backend.sandbox import Sandbox, moto_hooks

    with Sandbox(0, course_dir=tempfile.mkdtemp(), compute=()) as sandbox:
        plain = moto_hooks.MotoWsgiServer("127.0.0.1", 0, {})
        _, port = plain.start()
        try:
            guarded_s3 = Aws(Target.sandbox(endpoint_url=sandbox.url)).client("s3")
            plain_s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="eu-central-1",
                                    config=Config(retries={"max_attempts": 1}), **sandbox_credentials())
            guarded_s3.create_bucket(Bucket="bench-guard", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
            # Requests alternate one by one, so that the machine's load drifts over both alike;
            # the median latency of each gives its requests per second.
            latencies: dict[str, list[float]] = {"guarded": [], "plain": []}
            for _ in range(REQUESTS):
                for name, s3 in (("guarded", guarded_s3), ("plain", plain_s3)):
                    start = time.perf_counter()
                    s3.head_bucket(Bucket="bench-guard")
                    latencies[name].append(time.perf_counter() - start)
            body = os.urandom(BIG)
            puts: dict[str, list[float]] = {"guarded": [], "plain": []}
            for _ in range(3):
                for name, s3 in (("guarded", guarded_s3), ("plain", plain_s3)):
                    start = time.perf_counter()
                    s3.put_object(Bucket="bench-guard", Key="big", Body=body)
                    puts[name].append(time.perf_counter() - start)
        finally:
            plain.stop()

    guarded, bare = 1 / statistics.median(latencies["guarded"]), 1 / statistics.median(latencies["plain"])
    put_g, put_p = statistics.median(puts["guarded"]), statistics.median(puts["plain"])
    print(f"HeadBucket: guarded {guarded:.0f} req/s, plain moto {bare:.0f} req/s, ratio {guarded / bare:.2f} "
          f"(target >= {TARGET_RATIO})")
    print(f"put_object 50 MB: guarded {put_g:.2f} s, plain moto {put_p:.2f} s, ratio {put_g / put_p:.2f}")
    return 0 if guarded / bare >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
