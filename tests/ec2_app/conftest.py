"""Fixtures for the ec2_app tests: a stand-in model with the course signature, and clients."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# ec2_app is the project's folder, not an installed package, and the model factory sits here;
# both importable whatever pytest's import mode.
for path in (ROOT, HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from ec2_app.app import Settings, create_app  # noqa: E402
from ec2_app_model_factory import export_onnx, train  # noqa: E402


@pytest.fixture(scope="session")
def trained():
    """The stand-in sklearn pipeline and its training frame (trained once per session)."""
    return train(rows=3000)


@pytest.fixture(scope="session")
def model_path(trained, tmp_path_factory) -> Path:
    """A model.onnx with the course signature and metadata (model_version "provisional-1")."""
    pipe, x = trained
    return export_onnx(pipe, x, tmp_path_factory.mktemp("model") / "model.onnx")


@pytest.fixture(scope="module")
def client(model_path):
    """A client of the app with default settings; `with` runs its lifespan (model load)."""
    with TestClient(create_app(Settings(model_path=model_path))) as test_client:
        yield test_client
