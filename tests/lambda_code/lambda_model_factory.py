"""A small model with the course model's ONNX signature, for tests that must not wait for the
course build: 12 inputs of shape [N, 1] (4 int64, 8 string), outputs ``label`` (string) and
``probabilities`` (float [N, 2], no ZipMap), metadata ``numeric_fill`` and ``features``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

NUMERIC = ["age", "capital_gain", "capital_loss", "hours_per_week"]
CATEGORICAL = ["work_class", "education", "marital_status", "occupation", "relationship",
               "race", "sex", "native_country"]
FEATURES = ["age", "work_class", "education", "marital_status", "occupation", "relationship",
            "race", "sex", "capital_gain", "capital_loss", "hours_per_week", "native_country"]
CATEGORIES = {
    "work_class": ["Private", "Self-emp-not-inc", "Self-emp-inc", "Federal-gov", "Local-gov",
                   "State-gov", "Without-pay"],
    "education": ["Bachelors", "Some-college", "11th", "HS-grad", "Prof-school", "Masters",
                  "Doctorate", "9th"],
    "marital_status": ["Married-civ-spouse", "Divorced", "Never-married", "Separated", "Widowed"],
    "occupation": ["Tech-support", "Craft-repair", "Other-service", "Sales", "Exec-managerial",
                   "Prof-specialty", "Adm-clerical", "Farming-fishing"],
    "relationship": ["Wife", "Own-child", "Husband", "Not-in-family", "Unmarried"],
    "race": ["White", "Asian-Pac-Islander", "Amer-Indian-Eskimo", "Other", "Black"],
    "sex": ["Female", "Male"],
    "native_country": ["United-States", "Mexico", "Germany", "India", "Philippines", "Canada"],
}


def make_rows(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Return n random Adult-like records as one array per feature."""
    rng = np.random.default_rng(seed)
    cols: dict[str, np.ndarray] = {
        "age": rng.integers(17, 90, n),
        "capital_gain": np.where(rng.random(n) < 0.1, rng.integers(0, 99999, n), 0),
        "capital_loss": np.where(rng.random(n) < 0.05, rng.integers(0, 4356, n), 0),
        "hours_per_week": rng.integers(1, 99, n),
    }
    for name, cats in CATEGORIES.items():
        cols[name] = rng.choice(np.array(cats, dtype=object), n)
    return cols


def _labels(cols: dict[str, np.ndarray]) -> np.ndarray:
    score = (cols["age"] / 40 + cols["hours_per_week"] / 40 + (cols["capital_gain"] > 5000) * 2
             + (cols["marital_status"] == "Married-civ-spouse")
             + np.isin(cols["education"], ["Masters", "Doctorate", "Prof-school"]))
    return np.where(score > 3.2, ">50K", "<=50K")


def make_model(path: Path, n_train: int = 3000, seed: int = 0) -> Path:
    """Train a one-hot + logistic-regression pipeline and export it to ONNX at ``path``."""
    import pandas as pd
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    cols = make_rows(n_train, seed)
    frame = pd.DataFrame({f: cols[f] for f in FEATURES})
    for name in CATEGORICAL:
        frame[name] = frame[name].astype(object)
    pre = ColumnTransformer([
        ("num", StandardScaler(), NUMERIC),
        ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
    ])
    pipe = Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=500))])
    pipe.fit(frame, _labels(cols))
    initial = [(f, Int64TensorType([None, 1]) if f in NUMERIC else StringTensorType([None, 1]))
               for f in FEATURES]
    onx = convert_sklearn(
        pipe, initial_types=initial, options={id(pipe): {"zipmap": False}},
        final_types=[("label", StringTensorType([None])),
                     ("probabilities", FloatTensorType([None, 2]))],
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    fill = {f: float(np.median(cols[f])) for f in NUMERIC}
    for key, value in (("numeric_fill", json.dumps(fill)), ("features", json.dumps(FEATURES))):
        prop = onx.metadata_props.add()
        prop.key, prop.value = key, value
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(onx.SerializeToString())
    return path
