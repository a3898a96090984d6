"""The embedded local AWS: moto's server plus the compute moto does not run (see DESIGN.md).

    from backend.sandbox import Sandbox, serve_forever, get_sandbox_info
    with Sandbox(port=0) as sandbox:          # 127.0.0.1, free port, course bucket seeded
        boto3.client("s3", endpoint_url=sandbox.url, ...)

moto's internals are touched only in moto_hooks.py (pinned to one moto version).
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
