"""Tests for backend.artifacts: the model, its ONNX and MLflow exports, the CSV batches, the build cache."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backend import artifacts
from backend.artifacts import (
    CATEGORICAL_FEATURES,
    CLASSES,
    FEATURES,
    LABEL,
    NUMERIC_FEATURES,
    SAMPLE_RECORD,
    build_course,
    load_adult,
    load_onnx_metadata,
    onnx_feeds,
)

MODEL_FILES = {"model.onnx", "mlflow_model.zip", "input_batch.csv", "adult_batch.csv", "metrics.json"}


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> artifacts.BuildReport:
    """One real build (about ten seconds of training) shared by the module; layers are not built."""
    return build_course(tmp_path_factory.mktemp("course") / "out", layers=False)


@pytest.fixture(scope="module")
def session(course):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(course.out_dir / "model.onnx"), options, providers=["CPUExecutionProvider"])


def _mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


def _records(*changes: dict) -> pd.DataFrame:
    return pd.DataFrame([SAMPLE_RECORD | change for change in changes], columns=list(FEATURES))


# --- data ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("split", "rows"), [("train", 32_561), ("test", 16_281)])
def test_load_adult_has_lab_columns_clean_labels_and_nan_for_missing(split, rows):
    df = load_adult(split)

    assert list(df.columns) == [*FEATURES, LABEL]
    assert len(df) == rows
    assert set(df[LABEL]) == set(CLASSES)  # adult.test's trailing '.' is gone
    assert df["work_class"].isna().any() and not df["work_class"].eq("?").any()
    assert all(df[c].dtype == np.int64 for c in NUMERIC_FEATURES)


def test_load_adult_rejects_unknown_split():
    with pytest.raises(ValueError, match="split"):
        load_adult("validation")


# --- the build -----------------------------------------------------------------------------------


def test_build_writes_every_file_and_reports_it(course):
    assert course.built is True
    assert set(course.files) == MODEL_FILES
    for name, size in course.files.items():
        assert (course.out_dir / name).stat().st_size == size > 0
    manifest = json.loads((course.out_dir / "manifest.json").read_text())
    assert set(manifest["files"]) == MODEL_FILES


def test_metrics_reach_the_accuracy_target(course):
    metrics = json.loads((course.out_dir / "metrics.json").read_text())

    assert metrics["accuracy"] >= 0.85
    assert 0.85 <= metrics["roc_auc"] <= 1.0
    assert (metrics["n_train"], metrics["n_test"]) == (32_561, 16_281)
    assert course.metrics == metrics


# --- model.onnx ----------------------------------------------------------------------------------


def test_onnx_inputs_are_one_n_by_1_tensor_per_feature(session):
    inputs = [(i.name, i.type, i.shape) for i in session.get_inputs()]
    expected = [
        (name, "tensor(int64)" if name in NUMERIC_FEATURES else "tensor(string)", [None, 1]) for name in FEATURES
    ]
    assert inputs == expected


def test_onnx_outputs_are_label_and_probabilities_without_zipmap(course, session):
    import onnx

    outputs = {o.name: (o.type, o.shape) for o in session.get_outputs()}
    assert outputs == {"label": ("tensor(string)", [None]), "probabilities": ("tensor(float)", [None, 2])}
    model = onnx.load(str(course.out_dir / "model.onnx"))
    assert "ZipMap" not in {node.op_type for node in model.graph.node}
    assert "CC BY 4.0" in model.doc_string and "numeric_fill" in model.doc_string


def test_onnx_metadata_describes_features_classes_fills_and_categories(course):
    meta = load_onnx_metadata(course.out_dir / "model.onnx")

    assert meta["features"] == list(FEATURES)
    assert meta["classes"] == list(CLASSES)
    assert set(meta["numeric_fill"]) == set(NUMERIC_FEATURES)
    assert all(isinstance(v, int) for v in meta["numeric_fill"].values())  # they fill int64 inputs
    assert set(meta["categories"]) == set(CATEGORICAL_FEATURES)
    for name, values in meta["categories"].items():
        assert values == sorted(values) and "" not in values and "?" not in values
        assert SAMPLE_RECORD[name] in values  # LAB.md's sample record uses real Adult categories
    assert meta["model_version"] == course.metrics["model_version"]
    assert len(meta["model_version"]) == 12


def test_onnx_scores_unknown_categories_and_empty_strings(course, session):
    meta = load_onnx_metadata(course.out_dir / "model.onnx")
    batch = _records(
        {},
        {"occupation": "Astronaut", "native_country": "Atlantis"},
        {"work_class": "", "occupation": ""},
        {name: "" for name in CATEGORICAL_FEATURES},
    )

    labels, proba = session.run(None, onnx_feeds(batch, meta["numeric_fill"]))

    assert labels.shape == (4,) and set(labels) <= set(CLASSES)
    assert proba.shape == (4, 2) and np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert list(labels) == [CLASSES[i] for i in proba.argmax(axis=1)]


def test_onnx_matches_mlflow_pyfunc_on_input_batch(course, session, tmp_path):
    import mlflow.pyfunc

    with zipfile.ZipFile(course.out_dir / "mlflow_model.zip") as zf:
        names = zf.namelist()
        zf.extractall(tmp_path / "mlflow_model")
    assert "MLmodel" in names and names == sorted(names)
    batch = pd.read_csv(course.out_dir / "input_batch.csv")
    assert batch.isna().any().any()  # the comparison covers missing values too
    model = mlflow.pyfunc.load_model(str(tmp_path / "mlflow_model"))

    from_mlflow = np.asarray(model.predict(batch))
    fill = load_onnx_metadata(course.out_dir / "model.onnx")["numeric_fill"]
    _, from_onnx = session.run(None, onnx_feeds(batch, fill))

    assert from_mlflow.shape == (len(batch), 2)
    np.testing.assert_allclose(from_onnx, from_mlflow, atol=1e-5)


def test_mlflow_treats_empty_string_like_missing_as_onnx_does(course, tmp_path):
    import mlflow.pyfunc

    with zipfile.ZipFile(course.out_dir / "mlflow_model.zip") as zf:
        zf.extractall(tmp_path)
    model = mlflow.pyfunc.load_model(str(tmp_path))
    batch = _records({"work_class": None, "occupation": None}, {"work_class": "", "occupation": ""})

    proba = np.asarray(model.predict(batch))

    np.testing.assert_allclose(proba[0], proba[1])
    assert not np.allclose(proba[0], np.asarray(model.predict(_records({})))[0])  # missing is not ignored


# --- CSV batches ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "columns", "rows"),
    [("input_batch.csv", list(FEATURES), 1_000), ("adult_batch.csv", [*FEATURES, LABEL], 200)],
)
def test_csv_batches_have_lab_columns_and_row_counts(course, name, columns, rows):
    text = (course.out_dir / name).read_text()
    df = pd.read_csv(course.out_dir / name, keep_default_na=False, na_values=[""])

    assert list(df.columns) == columns
    assert len(df) == rows
    assert "?" not in text and "nan" not in text.lower()  # missing values are empty fields
    if LABEL in columns:
        assert set(df[LABEL]) == set(CLASSES)


def test_csv_batches_are_disjoint_rows_of_the_test_split(course):
    test_rows = pd.Series(load_adult("test")[list(FEATURES)].to_csv(index=False, header=False).splitlines())
    unique = set(test_rows[~test_rows.duplicated(keep=False)])  # rows that occur once identify themselves
    first = (course.out_dir / "input_batch.csv").read_text().splitlines()[1:]
    second = [line.rsplit(",", 1)[0] for line in (course.out_dir / "adult_batch.csv").read_text().splitlines()[1:]]

    assert set(first) <= set(test_rows) and set(second) <= set(test_rows)
    assert len(set(first) & unique) > 800  # most rows are unique, so the check has teeth
    assert not set(first) & set(second) & unique


# --- cache, determinism, atomicity ---------------------------------------------------------------


def test_second_build_is_a_no_op(course):
    before = _mtimes(course.out_dir)
    messages: list[str] = []

    again = build_course(course.out_dir, on_progress=messages.append, layers=False)

    assert again.built is False
    assert again.files == course.files and again.metrics == course.metrics
    assert _mtimes(course.out_dir) == before
    assert any("up to date" in m for m in messages)
    assert [p.name for p in course.out_dir.parent.iterdir()] == [course.out_dir.name]  # no temp dirs


def test_forced_rebuild_is_byte_identical(course, session):
    model_before = (course.out_dir / "model.onnx").read_bytes()
    csv_before = (course.out_dir / "input_batch.csv").read_bytes()

    again = build_course(course.out_dir, force=True, layers=False)

    assert again.built is True
    assert (course.out_dir / "model.onnx").read_bytes() == model_before
    assert (course.out_dir / "input_batch.csv").read_bytes() == csv_before
    assert again.metrics == course.metrics


_CONVERT_IN_CHILD = """
import hashlib, sys, zipfile
import skops.io
from backend import artifacts
with zipfile.ZipFile(sys.argv[1]) as zf:
    pipe = skops.io.loads(zf.read("model.skops"), trusted=list(artifacts._SKOPS_TRUSTED))
print(hashlib.sha256(artifacts._to_onnx(pipe)[0]).hexdigest())
"""


@pytest.mark.parametrize("hash_seed", ["1", "2"])
def test_mlflow_pipeline_converts_to_the_same_model_onnx_in_any_process(course, hash_seed):
    """The MLflow model is the ONNX model's pipeline, and conversion does not depend on PYTHONHASHSEED."""
    import hashlib
    import os
    import subprocess
    import sys

    env = os.environ | {"PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(Path(artifacts.__file__).parents[1])}
    child = subprocess.run(
        [sys.executable, "-c", _CONVERT_IN_CHILD, str(course.out_dir / "mlflow_model.zip")],
        capture_output=True, text=True, env=env, timeout=120,
    )

    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == hashlib.sha256((course.out_dir / "model.onnx").read_bytes()).hexdigest()


def _fake_model_files(tmp: Path, on_progress) -> dict:
    """Stands in for training in the cache tests: writes small files, instantly."""
    for name in MODEL_FILES:
        (tmp / name).write_text(f"fake {name}\n")
    return {"accuracy": 0.9}


@pytest.fixture
def fake_build(monkeypatch, tmp_path):
    """build_course with training replaced by _fake_model_files and copies of the data files."""
    monkeypatch.setattr(artifacts, "_build_model_files", _fake_model_files)
    for split, path in list(artifacts.DATA_FILES.items()):
        copy = tmp_path / "data" / path.name
        copy.parent.mkdir(exist_ok=True)
        copy.write_bytes(path.read_bytes())
        monkeypatch.setitem(artifacts.DATA_FILES, split, copy)
    return tmp_path / "course"


def test_missing_file_triggers_rebuild(fake_build):
    build_course(fake_build, layers=False)
    (fake_build / "adult_batch.csv").unlink()

    assert build_course(fake_build, layers=False).built is True
    assert (fake_build / "adult_batch.csv").is_file()


def test_changed_input_triggers_rebuild(fake_build):
    build_course(fake_build, layers=False)
    assert build_course(fake_build, layers=False).built is False
    with open(artifacts.DATA_FILES["test"], "ab") as f:
        f.write(b"\n")

    assert build_course(fake_build, layers=False).built is True


def test_failed_build_leaves_previous_artifacts_untouched(fake_build, monkeypatch):
    build_course(fake_build, layers=False)
    before = {p.name: p.read_bytes() for p in fake_build.iterdir()}

    def half_then_fail(tmp: Path, on_progress) -> dict:
        (tmp / "model.onnx").write_text("half-made")
        raise RuntimeError("conversion failed")

    monkeypatch.setattr(artifacts, "_build_model_files", half_then_fail)
    with pytest.raises(RuntimeError, match="conversion failed"):
        build_course(fake_build, force=True, layers=False)

    assert {p.name: p.read_bytes() for p in fake_build.iterdir()} == before
    assert sorted(p.name for p in fake_build.parent.iterdir()) == ["course", "data"]  # temp dir removed


def test_layers_are_built_cached_and_optional(fake_build, monkeypatch):
    from lambda_code import build_layer as layer_module

    calls = []

    def fake_build_layer(dest: Path, platform: str) -> Path:
        calls.append(platform)
        dest.write_bytes(f"layer for {platform}".encode())
        return dest

    monkeypatch.setattr(layer_module, "build_layer", fake_build_layer)

    without = build_course(fake_build, layers=False)
    with_layers = build_course(fake_build, layers=True)  # layers missing: a cache miss
    cached = build_course(fake_build, layers=False)  # a build with layers also satisfies layers=False

    assert "layer_file.zip" not in without.files
    assert with_layers.built is True and calls == ["aws", "local"]
    assert (fake_build / "layer_file.zip").read_text() == "layer for aws"
    assert (fake_build / "layer_file.local.zip").read_text() == "layer for local"
    assert cached.built is False
