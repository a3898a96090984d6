"""Project-wide constants and locations: one place for names every module agrees on."""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"
# Built course artifacts (model.onnx, mlflow_model.zip, CSVs, layer zips); gitignored.
COURSE_DIR = Path(os.environ.get("MLOPS_LAB_COURSE_DIR", PROJECT_ROOT / "build" / "course"))

COURSE_BUCKET = "layerfiles-mlops-course"
# The five files of the course bucket, in the order the handout downloads them.
COURSE_FILES = ("layer_file.zip", "model.onnx", "mlflow_model.zip", "input_batch.csv", "adult_batch.csv")

DEFAULT_REGION = "eu-central-1"
DEFAULT_SANDBOX_PORT = 4566
DEFAULT_SANDBOX_ENDPOINT = f"http://127.0.0.1:{DEFAULT_SANDBOX_PORT}"
SANDBOX_ACCOUNT_ID = "123456789012"  # moto's default account


def user_data_dir() -> Path:
    """Where per-student files live (downloads, private keys): $MLOPS_LAB_HOME or ~/.local/share/mlops-lab."""
    base = os.environ.get("MLOPS_LAB_HOME") or os.path.join(
        os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "mlops-lab"
    )
    return Path(base)


def sandbox_credentials_path() -> Path:
    """The sandbox's own keys (a per-install secret, mode 0600): made and read by backend/aws.py."""
    return user_data_dir() / "sandbox-credentials.json"
