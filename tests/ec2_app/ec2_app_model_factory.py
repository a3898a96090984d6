"""A small stand-in for the course model, with the same ONNX signature, for the ec2_app tests.

The course build (`python -m backend course build`) makes the real one; the app's tests train
their own on a slice of data/adult so they do not depend on a build having run. It is also
handy for the benchmark before the course build exists:

    python tests/ec2_app/ec2_app_model_factory.py OUT_DIR   # writes model.onnx, mlflow_model.zip
"""
from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
ADULT_DATA = ROOT / "data" / "adult" / "adult.data.gz"

NUMERIC = ["age", "capital_gain", "capital_loss", "hours_per_week"]
CATEGORICAL = [
    "work_class", "education", "marital_status", "occupation",
    "relationship", "race", "sex", "native_country",
]
FEATURES = [
    "age", "work_class", "education", "marital_status", "occupation", "relationship",
    "race", "sex", "capital_gain", "capital_loss", "hours_per_week", "native_country",
]
_RAW_COLUMNS = [
    "age", "work_class", "fnlwgt", "education", "education_num", "marital_status", "occupation",
    "relationship", "race", "sex", "capital_gain", "capital_loss", "hours_per_week",
    "native_country", "income",
]


def load_adult(rows: int = 4000) -> tuple[pd.DataFrame, np.ndarray]:
    """The first `rows` Adult training rows as the 12 features, and their labels."""
    raw = pd.read_csv(ADULT_DATA, header=None, names=_RAW_COLUMNS, skipinitialspace=True, nrows=rows)
    x = raw[FEATURES].copy()
    for col in NUMERIC:
        x[col] = x[col].astype("int64")
    for col in CATEGORICAL:
        x[col] = x[col].astype(object)
    return x, raw["income"].to_numpy(dtype=object)


def train(rows: int = 4000):
    """A fitted sklearn pipeline over the 12 features (unknown categories ignored)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    x, y = load_adult(rows)
    pre = ColumnTransformer([
        ("num", StandardScaler(), NUMERIC),
        ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
    ])
    pipe = Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=500))])
    pipe.fit(x, y)
    return pipe, x


def export_onnx(pipe, x: pd.DataFrame, path: Path, model_version: str | None = "provisional-1") -> Path:
    """Write `pipe` as ONNX with the course signature and metadata_props; returns `path`."""
    import onnx
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import Int64TensorType, StringTensorType

    initial_types = [
        (col, Int64TensorType([None, 1]) if col in NUMERIC else StringTensorType([None, 1]))
        for col in FEATURES
    ]
    onx = convert_sklearn(
        pipe, initial_types=initial_types,
        options={id(pipe.named_steps["clf"]): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    categories = {col: sorted(x[col].unique().tolist()) for col in CATEGORICAL}
    meta = {
        "categories": json.dumps(categories),
        "numeric_fill": json.dumps({col: int(x[col].median()) for col in NUMERIC}),
        "features": json.dumps(FEATURES),
        "classes": json.dumps(list(pipe.classes_)),
    }
    if model_version is not None:
        meta["model_version"] = model_version
    onnx.helper.set_model_props(onx, meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(onx.SerializeToString())
    return path


def export_mlflow_zip(pipe, x: pd.DataFrame, path: Path) -> Path:
    """Save `pipe` as an MLflow sklearn model (pyfunc = predict_proba) and zip the directory."""
    import tempfile

    import mlflow.sklearn
    from mlflow.models import infer_signature

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "mlflow_model"
        mlflow.sklearn.save_model(
            pipe, str(model_dir), pyfunc_predict_fn="predict_proba",
            signature=infer_signature(x.head(20), pipe.predict_proba(x.head(20))),
        )
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for file in sorted(model_dir.rglob("*")):
                if file.is_file():
                    zf.write(file, file.relative_to(model_dir.parent))
    return path


def main(out_dir: str) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pipe, x = train()
    print(export_onnx(pipe, x, out / "model.onnx"))
    print(export_mlflow_zip(pipe, x, out / "mlflow_model.zip"))


if __name__ == "__main__":
    main(sys.argv[1])
