"""SageMaker compute for the sandbox: an endpoint really serves its model with MLflow's scoring server.

On CreateEndpoint (and UpdateEndpoint, which moto 5.2.5 lacks and this module adds) the endpoint
is Creating (Updating) while a worker does what SageMaker does on its instance: it checks the
container image is in ECR and the execution role trusts sagemaker.amazonaws.com, fetches the
model.tar.gz the SageMaker model's ModelDataUrl names (the one MLflow uploaded), unpacks it and
starts MLflow's scoring server on it (uvicorn on `mlflow.pyfunc.scoring_server.app`, the app the
MLflow serving image runs) on a free 127.0.0.1 port. Once it answers /ping the endpoint is
InService; if the model cannot load, Failed with the reason. A failed update rolls back to the
previous model, still InService, as on AWS. InvokeEndpoint is forwarded to the server: its answer
comes back as is, and an error status comes back as AWS's ModelError (HTTP 424) carrying the
container's OriginalStatusCode and message. DeleteEndpoint stops the server.

ECR needs no compute: pushes are recorded with PutImage (backend/ecr.py), which moto stores.

moto is patched for this in moto_hooks.py (install_sagemaker: create/delete wrapped,
UpdateEndpoint added, InvokeEndpoint replaced), which calls created/updated/deleted/invoke here.
This module imports nothing of moto, but reads the endpoint config and model from the moto
backend handed to it and sets the endpoint's status (moto makes an endpoint InService at once).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import children, moto_hooks

if TYPE_CHECKING:
    from .plugin import SandboxView

log = logging.getLogger(__name__)

SCORING_APP = "mlflow.pyfunc.scoring_server.app:app"
MODEL_PATH_VAR = "__pyfunc_model_path__"  # mlflow.pyfunc.scoring_server._SERVER_MODEL_PATH
# Loading the course model takes ~3 s here (sklearn, skops); a cold disk or a busy laptop much
# more. AWS gives a container 8 minutes to pass its health check before the endpoint fails.
LOAD_BUDGET_S = 180.0
PING_EVERY_S = 0.25
# AWS answers InvokeEndpoint within 60 s or fails it; the server's own limit is set to match.
INVOKE_TIMEOUT_S = 60.0
SAGEMAKER_PRINCIPAL = "sagemaker.amazonaws.com"
LOG_TAIL_LINES = 40


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServingFailed(RuntimeError):
    """The container could not start serving; the message becomes the endpoint's FailureReason."""


@dataclass
class Server:
    """One scoring server process: a model directory served on 127.0.0.1:port."""

    model_name: str
    variant: str
    model_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({MODEL_PATH_VAR: str(self.model_dir), "MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT": str(int(INVOKE_TIMEOUT_S)),
                    "PYTHONUNBUFFERED": "1"})
        self.log_path = self.model_dir.parent / f"{self.model_dir.name}.log"
        with open(self.log_path, "wb") as out:
            self.process = children.spawn(
                [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(self.port),
                 "--workers", "1", "--log-level", "warning", SCORING_APP],
                cwd=self.model_dir, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def wait_ready(self, budget: float = LOAD_BUDGET_S, cancelled: threading.Event | None = None) -> None:
        """Return once /ping answers 200; raise ServingFailed if the process exits or the budget runs out."""
        deadline = time.monotonic() + budget
        while time.monotonic() < deadline:
            if cancelled is not None and cancelled.is_set():
                raise ServingFailed("The endpoint was deleted while it was being created.")
            if self.process is None or self.process.poll() is not None:
                raise ServingFailed(f"The model container exited while loading the model: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/ping", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(PING_EVERY_S)
        raise ServingFailed(f"The model container did not pass its /ping health check within {budget:.0f} s: "
                            f"{self.log_tail()}")

    def log_tail(self) -> str:
        """The last meaningful lines of the server's output (an exception's last line first)."""
        try:
            lines = [ln for ln in self.log_path.read_text(errors="replace").splitlines() if ln.strip()]
        except (OSError, AttributeError):
            return "no output"
        tail = list(deque(lines, maxlen=LOG_TAIL_LINES))
        errors = [ln for ln in tail if "Error" in ln or "Exception" in ln]
        return (errors[-1] if errors else (tail[-1] if tail else "no output")).strip()[:1000]

    def invoke(self, body: bytes, content_type: str | None, accept: str | None) -> tuple[int, str, bytes]:
        """POST /invocations; return (status, content type, body), whatever the status."""
        request = urllib.request.Request(f"{self.url}/invocations", data=body, method="POST")
        request.add_header("Content-Type", content_type or "application/json")
        if accept:
            request.add_header("Accept", accept)
        try:
            with urllib.request.urlopen(request, timeout=INVOKE_TIMEOUT_S) as resp:
                return resp.status, resp.headers.get("Content-Type", "application/json"), resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.headers.get("Content-Type", "text/plain"), err.read()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        shutil.rmtree(self.model_dir, ignore_errors=True)


@dataclass
class EndpointState:
    """What the sandbox runs for one endpoint: the server in service and the one being started."""

    name: str
    serving: Server | None = None
    pending: Server | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    generation: int = 0


def parse_image(image: str) -> tuple[str, str]:
    """Return (repository, tag or digest) of an ECR image URL such as 1234.dkr.ecr.r.amazonaws.com/repo:tag."""
    path = image.split("/", 1)[1] if "/" in image else image
    if "@" in path:
        repo, _, ref = path.partition("@")
    else:
        repo, _, ref = path.rpartition(":") if ":" in path else (path, "", "latest")
    return repo, ref or "latest"


def _role_trusts(document: Any, service: str) -> bool:
    from urllib.parse import unquote

    if isinstance(document, str):
        document = json.loads(unquote(document))
    for statement in document.get("Statement", []):
        principal = statement.get("Principal", {})
        services = principal.get("Service", []) if isinstance(principal, dict) else []
        services = [services] if isinstance(services, str) else services
        if statement.get("Effect") == "Allow" and service in services:
            return True
    return False


class SageMakerCompute:
    """The sandbox's SageMaker: endpoints serve their MLflow model for real (see the module docstring)."""

    name = "sagemaker"

    def __init__(self, load_budget: float = LOAD_BUDGET_S, workers: int = 2) -> None:
        self.load_budget = load_budget
        self._workers = workers
        self._sandbox: SandboxView | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._work_dir: Path | None = None
        self._endpoints: dict[tuple[str, str, str], EndpointState] = {}
        self._lock = threading.Lock()
        self._invocations = 0

    # --- the Compute protocol ------------------------------------------------------------------
    def start(self, sandbox: SandboxView) -> None:
        self._sandbox = sandbox
        self._work_dir = children.temp_dir("mlops-lab-sagemaker-")
        self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="sagemaker-endpoint")
        moto_hooks.install_sagemaker(sandbox.patches, self)

    # --- what moto_hooks tells it --------------------------------------------------------------
    def created(self, backend: Any, endpoint: Any, config_name: str, tags: list[dict[str, str]] | None) -> None:
        if any(t.get("Key") == "lab:seeded" and t.get("Value") == "true" for t in tags or []):
            return  # a demo class (`monitor seed-class`): nothing to serve, stays as moto made it
        endpoint.endpoint_status = "Creating"
        self._launch(backend, endpoint, config_name, update=False)

    def updated(self, backend: Any, endpoint: Any, config_name: str) -> None:
        self._launch(backend, endpoint, config_name, update=True)

    def deleted(self, account_id: str, region: str, name: str) -> None:
        self._forget((account_id, region, name))

    def stop(self) -> None:
        with self._lock:
            states = list(self._endpoints.values())
            self._endpoints.clear()
        for state in states:
            state.cancelled.set()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        for state in states:
            for server in (state.serving, state.pending):
                if server is not None:
                    server.stop()
        if self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)
            self._work_dir = None

    def info(self) -> dict[str, Any]:
        """Each endpoint's server (address, pid), for the health route."""
        with self._lock:
            endpoints = {key[2]: {"url": s.serving.url if s.serving else None,
                                  "pid": s.serving.process.pid if s.serving and s.serving.process else None,
                                  "model": s.serving.model_name if s.serving else None,
                                  "starting": s.pending is not None}
                         for key, s in self._endpoints.items()}
        return {"endpoints": endpoints, "invocations": self._invocations}

    def server_for(self, endpoint: str) -> Server | None:
        """Return the server an endpoint of this name is served by (tests, diagnostics)."""
        with self._lock:
            return next((s.serving for key, s in self._endpoints.items() if key[2] == endpoint), None)

    # --- creating and updating -----------------------------------------------------------------
    def _launch(self, backend: Any, endpoint: Any, config_name: str, update: bool) -> None:
        key = (backend.account_id, backend.region_name, endpoint.endpoint_name)
        with self._lock:
            state = self._endpoints.setdefault(key, EndpointState(endpoint.endpoint_name))
            state.generation += 1
            generation = state.generation
        assert self._pool is not None, "SageMaker compute is not started"
        self._pool.submit(self._bring_up, backend, endpoint, config_name, key, generation, update)

    def _bring_up(self, backend: Any, endpoint: Any, config_name: str, key: tuple[str, str, str],
                  generation: int, update: bool) -> None:
        state = self._endpoints.get(key)
        if state is None:
            return
        server = None
        try:
            server = self._prepare(backend, config_name, key)
            with self._lock:
                state.pending = server
            server.start()
            server.wait_ready(self.load_budget, state.cancelled)
        except Exception as exc:  # every failure becomes the endpoint's FailureReason
            reason = str(exc) if isinstance(exc, ServingFailed) else f"{type(exc).__name__}: {exc}"
            log.warning("endpoint %s: %s", endpoint.endpoint_name, reason)
            if server is not None:
                server.stop()
            with self._lock:
                if state.pending is server:
                    state.pending = None
                current = state.generation == generation and self._endpoints.get(key) is state
            if current:
                self._fail(endpoint, reason, update)
            return
        with self._lock:
            current = state.generation == generation and self._endpoints.get(key) is state
            old = state.serving if current else None
            if current:
                state.serving, state.pending = server, None
        if not current:  # deleted or replaced meanwhile
            server.stop()
            return
        if old is not None:  # traffic already goes to the new server; the old one goes before InService
            old.stop()
        endpoint.endpoint_status = "InService"
        endpoint.failure_reason = None
        log.info("endpoint %s serves %s at %s", endpoint.endpoint_name, server.model_name, server.url)

    @staticmethod
    def _fail(endpoint: Any, reason: str, update: bool) -> None:
        previous = getattr(endpoint, "previous_config", None)
        if update and previous is not None:
            # AWS rolls a failed update back: the previous config keeps serving, InService.
            endpoint.endpoint_config_name, endpoint.production_variants = previous
            endpoint.failure_reason = reason
            endpoint.endpoint_status = "InService"
        else:
            endpoint.failure_reason = reason
            endpoint.endpoint_status = "Failed"

    def _prepare(self, backend: Any, config_name: str, key: tuple[str, str, str]) -> Server:
        """Check image and role, fetch and unpack the model artifact; return the (unstarted) server."""
        assert self._sandbox is not None and self._work_dir is not None
        config = backend.endpoint_configs.get(config_name)
        if config is None:
            raise ServingFailed(f"The endpoint configuration {config_name} no longer exists.")
        variants = sorted(config.production_variants, key=lambda v: -float(v.get("InitialVariantWeight", 1) or 0))
        if not variants:
            raise ServingFailed(f"The endpoint configuration {config_name} has no production variant.")
        variant = variants[0]
        model = backend._models.get(variant["ModelName"])
        if model is None:
            raise ServingFailed(f"Could not find model {variant['ModelName']}.")
        container = model.primary_container or (model.containers[0] if model.containers else {})
        image, data_url = container.get("Image", ""), container.get("ModelDataUrl", "")
        self._check_image(image)
        self._check_role(model.execution_role_arn)
        if not data_url.startswith("s3://"):
            raise ServingFailed(f"The model {model.model_name} has no ModelDataUrl (s3://…/model.tar.gz) to serve.")
        bucket, _, object_key = data_url[len("s3://"):].partition("/")
        s3 = self._sandbox.client("s3", backend.region_name)
        try:
            data = s3.get_object(Bucket=bucket, Key=object_key)["Body"].read()
        except Exception as exc:
            raise ServingFailed(f"Could not download the model artifact {data_url}: {exc}") from exc
        target = self._work_dir / "-".join(key) / f"{model.model_name}-{time.monotonic_ns()}"
        target.mkdir(parents=True)
        archive = target.parent / f"{target.name}.tar.gz"
        archive.write_bytes(data)
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(target, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise ServingFailed(f"The model artifact {data_url} is not a readable .tar.gz: {exc}") from exc
        finally:
            archive.unlink(missing_ok=True)
        if not (target / "MLmodel").is_file():
            raise ServingFailed(f"The model artifact {data_url} has no MLmodel file at its root: "
                                "it is not an MLflow model.")
        return Server(model.model_name, variant["VariantName"], target)

    def _check_image(self, image: str) -> None:
        assert self._sandbox is not None
        if ".dkr.ecr." not in image:
            raise ServingFailed(f"The image {image!r} is not in ECR: push MLflow's serving image with "
                                "`mlflow sagemaker build-and-push-container`.")
        region = image.split(".dkr.ecr.", 1)[1].split(".", 1)[0]
        repository, ref = parse_image(image)
        ecr = self._sandbox.client("ecr", region)
        image_id = {"imageDigest": ref} if ref.startswith("sha256:") else {"imageTag": ref}
        try:
            ecr.describe_images(repositoryName=repository, imageIds=[image_id])
        except Exception as exc:
            raise ServingFailed(f"The image {image} does not exist in ECR: push it with "
                                f"`mlflow sagemaker build-and-push-container` ({exc}).") from exc

    def _check_role(self, role_arn: str) -> None:
        assert self._sandbox is not None
        name = role_arn.rsplit("/", 1)[-1]
        try:
            role = self._sandbox.client("iam").get_role(RoleName=name)["Role"]
        except Exception as exc:
            raise ServingFailed(f"Could not assume the execution role {role_arn}: {exc}") from exc
        if not _role_trusts(role.get("AssumeRolePolicyDocument", {}), SAGEMAKER_PRINCIPAL):
            raise ServingFailed(f"Could not assume the execution role {role_arn}: its trust policy does not "
                                f"allow {SAGEMAKER_PRINCIPAL}.")

    def _forget(self, key: tuple[str, str, str]) -> None:
        with self._lock:
            state = self._endpoints.pop(key, None)
        if state is None:
            return
        state.cancelled.set()
        for server in (state.serving, state.pending):
            if server is not None:
                server.stop()

    # --- invoking ------------------------------------------------------------------------------
    def invoke(self, account: str, region: str, name: str, endpoint_status: str | None, body: bytes,
               content_type: str | None, accept: str | None) -> tuple[int, dict[str, Any], str | bytes]:
        """InvokeEndpoint (called by moto_hooks): forward to the endpoint's server, answer as AWS does."""
        if len(body) > 6 * 1024 * 1024:  # AWS's InvokeEndpoint limit: refused before any model sees it
            import uuid

            return _error(400, "ValidationError", f"Request {uuid.uuid4()} has oversize body.")
        if endpoint_status is None:
            return _error(400, "ValidationError", f"Endpoint {name} of account {account} not found.")
        with self._lock:
            state = self._endpoints.get((account, region, name))
            server = state.serving if state else None
        if server is None or endpoint_status not in ("InService", "Updating"):
            return _error(400, "ValidationError",
                          f"Endpoint {name} of account {account} is not in service (status {endpoint_status}).")
        self._invocations += 1
        status, content_type, body = server.invoke(body, content_type, accept)
        if 200 <= status < 300:
            return status, {"status": status, "Content-Type": content_type,
                            "x-Amzn-Invoked-Production-Variant": server.variant}, body
        kind = "client" if status < 500 else "server"
        text = body.decode("utf-8", errors="replace")
        log_group = f"/aws/sagemaker/Endpoints/{name}"
        message = (f"Received {kind} error ({status}) from primary with message \"{text}\". "
                   f"See the sandbox's log ({log_group}) for more information.")
        return 424, {"status": 424, "Content-Type": "application/json", "x-amzn-ErrorType": "ModelError"}, json.dumps({
            "ErrorCode": f"{kind.upper()}_ERROR_FROM_MODEL", "Message": message, "OriginalStatusCode": status,
            "OriginalMessage": text, "LogStreamArn": f"arn:aws:logs:{region}:{account}:log-group:{log_group}"})


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, Any], str]:
    return status, {"status": status, "Content-Type": "application/json", "x-amzn-ErrorType": code}, json.dumps(
        {"message": message})
