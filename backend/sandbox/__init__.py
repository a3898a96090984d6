"""The embedded local AWS: moto's server plus the compute moto does not run (see the README, The sandbox).

    from backend.sandbox import Sandbox, serve_forever, get_sandbox_info
    with Sandbox(port=0) as sandbox:          # 127.0.0.1, free port, course bucket seeded
        boto3.client("s3", endpoint_url=sandbox.url, ...)

moto is patched only in moto_hooks.py and read through moto_views.py, both pinned to one moto
version (moto_hooks.check_moto_version). Everything the sandbox starts goes through children.py:
it dies with the sandbox, even on kill -9, and the next start cleans what a killed one left.
"""
from .lambda_runtime import LambdaCompute
from .server import (
    HEALTH_PATH,
    SANDBOX_HOST,
    SANDBOX_ID,
    Compute,
    Sandbox,
    SandboxError,
    SandboxInfo,
    SeedResult,
    course_sources,
    default_compute,
    get_sandbox_info,
    sandbox_is_running,
    serve_forever,
)

__all__ = [
    "HEALTH_PATH", "SANDBOX_HOST", "SANDBOX_ID", "Compute", "LambdaCompute", "Sandbox", "SandboxError",
    "SandboxInfo", "SeedResult", "course_sources", "default_compute", "get_sandbox_info", "sandbox_is_running",
    "serve_forever",
]
