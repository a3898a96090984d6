"""How ec2_app starts: settings, model loading and its failures, and the deployment command."""
from __future__ import annotations

import hashlib
import os
import select
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ec2_app.app import SAMPLE_RECORD, ModelLoadError, Scorer, Settings, _positive_column, create_app
from ec2_app_model_factory import export_onnx

ROOT = Path(__file__).resolve().parents[2]
APP_DIR = ROOT / "ec2_app"
BUILT_MODEL = ROOT / "build" / "course" / "model.onnx"


def test_settings_defaults():
    settings = Settings()
    assert settings.model_path == APP_DIR / "model.onnx"
    assert settings.batch_max == 1000


def test_settings_come_from_the_environment(monkeypatch, model_path):
    monkeypatch.setenv("MODEL_PATH", str(model_path))
    monkeypatch.setenv("BATCH_MAX", "2")
    with TestClient(create_app()) as client:
        assert client.get("/health").status_code == 200
        response = client.post("/predict/batch", json={"records": [SAMPLE_RECORD] * 3})
    assert response.status_code == 422


def test_missing_model_fails_startup_with_a_clear_message(tmp_path):
    app = create_app(Settings(model_path=tmp_path / "model.onnx"))
    with pytest.raises(ModelLoadError, match="Model file not found: .*set MODEL_PATH"):
        with TestClient(app):
            pass


def test_a_file_that_is_not_onnx_fails_startup(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_text("not a model")
    with pytest.raises(ModelLoadError, match="not a loadable ONNX model"):
        Scorer.load(Settings(model_path=path))


def test_a_model_with_another_signature_fails_startup(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "other",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])],
    )
    path = tmp_path / "model.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    with pytest.raises(ModelLoadError, match="does not have the course signature"):
        Scorer.load(Settings(model_path=path))


def test_model_version_falls_back_to_the_files_sha256(trained, tmp_path):
    pipe, x = trained
    path = export_onnx(pipe, x, tmp_path / "model.onnx", model_version=None)
    expected = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    with TestClient(create_app(Settings(model_path=path))) as client:
        assert client.get("/health").json()["model_version"] == expected
        assert client.post("/predict", json=SAMPLE_RECORD).json()["model_version"] == expected


@pytest.mark.parametrize(
    ("classes", "column"), [(None, 1), ('["<=50K", ">50K"]', 1), ('[">50K", "<=50K"]', 0)]
)
def test_probability_column_follows_the_classes_metadata(classes, column, tmp_path):
    assert _positive_column(classes, tmp_path) == column


@pytest.mark.parametrize("classes", ['["no", "yes"]', '{"a": 1}', "not json"])
def test_classes_metadata_without_the_positive_class_fails_startup(classes, tmp_path):
    with pytest.raises(ModelLoadError, match="classes"):
        _positive_column(classes, tmp_path)


@pytest.mark.skipif(not BUILT_MODEL.exists(), reason="course not built (python -m backend course build)")
def test_the_built_course_model_is_servable():
    scorer = Scorer.load(Settings(model_path=BUILT_MODEL))
    from ec2_app.app import IncomeRecord

    unknown = IncomeRecord(**{**SAMPLE_RECORD, "occupation": "Professional", "native_country": "?"})
    for answer in scorer.predict([IncomeRecord(**SAMPLE_RECORD), unknown]):
        assert answer["label"] in {"<=50K", ">50K"}
        assert 0.0 <= answer["probability"] <= 1.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _uvicorn(model_path, port):
    # The Dockerfile's command, run from the app's folder as the sandbox and the image do.
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=APP_DIR, env={**os.environ, "MODEL_PATH": str(model_path)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=0,
    )


def _output_until(proc, marker: bytes, timeout: float = 60) -> str:
    """The server's output up to `marker` (or its exit); fails after `timeout` seconds."""
    out = b""
    deadline = time.monotonic() + timeout
    fd = proc.stdout.fileno()
    while marker not in out:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {marker!r} within {timeout} s: {out.decode()}"
        if select.select([fd], [], [], remaining)[0]:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            out += chunk
    return out.decode()


def test_uvicorn_refuses_to_start_without_the_model(tmp_path):
    proc = _uvicorn(tmp_path / "missing.onnx", _free_port())
    try:
        output = _output_until(proc, b"\0never printed")
        assert proc.wait(timeout=10) != 0
    finally:
        proc.kill()
    assert "Model file not found" in output


def test_uvicorn_serves_the_app_from_its_folder(model_path):
    port = _free_port()
    proc = _uvicorn(model_path, port)
    try:
        output = _output_until(proc, b"Uvicorn running on")  # printed once listening
        assert proc.poll() is None, output
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as resp:
            assert resp.status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
