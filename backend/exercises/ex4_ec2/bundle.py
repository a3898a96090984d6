"""What the instance runs: the app bundle (ec2_app/ + the course's model.onnx) and its start-up script.

The bundle is a byte-stable tar.gz in the student's private bundle bucket; the user data installs
Docker, fetches it through a presigned URL, builds the image and runs it on APP_PORT. In the sandbox
the same user data makes the sandbox run the app as a local process (backend/sandbox/ec2_compute.py).
"""
from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from pathlib import Path

from ...config import PROJECT_ROOT

# The instance's two ports: the API (as the user data maps it) and SSH. Steps, checks and snippets use these.
APP_PORT = 8000
SSH_PORT = 22

APP_DIR = PROJECT_ROOT / "ec2_app"
MODEL_KEY = "model.onnx"
BUNDLE_KEY = "ec2-app/bundle.tar.gz"
IMAGE_NAME = "income-api"
PRESIGN_SECONDS = 3600  # the instance fetches the bundle within minutes of launch
# Object metadata on the bundle: what it was built from, so a plan can tell a stale bundle by two HEADs.
META_MODEL_ETAG = "model-etag"
META_APP_SHA = "app-sha256"


def app_files() -> list[Path]:
    """Return the app's files that go into the bundle (the model comes from the course bucket)."""
    return sorted(p for p in APP_DIR.iterdir()
                  if p.is_file() and not p.name.endswith(".pyc") and p.name != MODEL_KEY)


def app_digest() -> str:
    """Return a short digest of the app's files (names and contents), to tell a bundle of an older app."""
    digest = hashlib.sha256()
    for path in app_files():
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def fingerprint(model_etag: str) -> dict[str, str]:
    """Return the metadata a bundle built now from the course model (by its ETag) carries."""
    return {META_MODEL_ETAG: model_etag.strip('"'), META_APP_SHA: app_digest()}


def build_bundle(model: bytes) -> bytes:
    """Return the app bundle: ec2_app/'s files and model.onnx at the root of a tar.gz (byte-stable)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        entries = [(p.name, p.read_bytes()) for p in app_files()] + [(MODEL_KEY, model)]
        for name, data in sorted(entries):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    # mtime=0 in the gzip header too: the same inputs give the same bytes, so re-uploads are skipped.
    return gzip.compress(raw.getvalue(), mtime=0)


def user_data(bundle_url: str) -> str:
    """Return the instance's start-up script: Docker, the bundle, the image, the container on APP_PORT."""
    # No `set -x`: the presigned URL would end up in the console output for anyone who can read it.
    return f"""\
#!/bin/bash
# mlops-lab exercise 4: install Docker, fetch the app bundle, build and run the income API on port {APP_PORT}.
set -euo pipefail
BUNDLE_URL='{bundle_url}'
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q docker.io curl
systemctl enable --now docker
mkdir -p /opt/{IMAGE_NAME}
cd /opt/{IMAGE_NAME}
curl -fsSL --retry 5 "$BUNDLE_URL" -o bundle.tar.gz
tar -xzf bundle.tar.gz
docker build -t {IMAGE_NAME} .
docker rm -f {IMAGE_NAME} 2>/dev/null || true
docker run -d --name {IMAGE_NAME} --restart unless-stopped -p {APP_PORT}:{APP_PORT} {IMAGE_NAME}
echo "{IMAGE_NAME} started on port {APP_PORT}"
"""
