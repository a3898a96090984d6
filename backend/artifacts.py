"""Course artifacts: train the lab's income model on UCI Adult and build every file the course bucket holds.

`build_course()` writes, into one directory: `model.onnx` (the model as the lab guide describes it),
`mlflow_model.zip` (the same fitted pipeline as an MLflow model), `input_batch.csv` and
`adult_batch.csv` (rows of the test split), `metrics.json`, and the Lambda layer zips. The build
is deterministic (fixed seeds, same inputs give a byte-identical `model.onnx`) and cached through
`manifest.json`.

Heavy libraries (scikit-learn, skl2onnx, onnx, mlflow) are imported inside the functions that
need them, so importing this module for its constants stays cheap.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

from backend.config import COURSE_DIR, DATA_DIR, PROJECT_ROOT
from backend.i18n import _, number

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

# The 12 lab features, in the lab guide's order (the sample record's): ONNX inputs and CSV columns follow it.
FEATURES = (
    "age",
    "work_class",
    "education",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital_gain",
    "capital_loss",
    "hours_per_week",
    "native_country",
)
NUMERIC_FEATURES = ("age", "capital_gain", "capital_loss", "hours_per_week")
CATEGORICAL_FEATURES = (
    "work_class",
    "education",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "native_country",
)
# Bounds the EC2 API accepts (Adult's ranges, stretched where Adult top-codes): input forms stay inside them.
FEATURE_RANGES = {"age": (17, 100), "capital_gain": (0, 99_999), "capital_loss": (0, 99_999), "hours_per_week": (1, 99)}
LABEL = "income"
# Sorted, so it is also scikit-learn's `classes_` order and the column order of `probabilities`.
CLASSES = ("<=50K", ">50K")

# The lab guide's corrected sample record (the handout's `Married`/`Professional` are not Adult categories).
SAMPLE_RECORD: dict[str, Any] = {
    "age": 39,
    "work_class": "Local-gov",
    "education": "Masters",
    "marital_status": "Married-civ-spouse",
    "occupation": "Prof-specialty",
    "relationship": "Wife",
    "race": "White",
    "sex": "Female",
    "capital_gain": 0,
    "capital_loss": 0,
    "hours_per_week": 28,
    "native_country": "United-States",
}

ADULT_DIR = DATA_DIR / "adult"
DATA_FILES = {"train": ADULT_DIR / "adult.data.gz", "test": ADULT_DIR / "adult.test.gz"}

# Column names of adult.data/adult.test (adult.names), renamed to the lab's where they are features.
_ADULT_COLUMNS = (
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
    "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week",
    "native-country", "income",
)
_RENAME = {
    "workclass": "work_class",
    "marital-status": "marital_status",
    "capital-gain": "capital_gain",
    "capital-loss": "capital_loss",
    "hours-per-week": "hours_per_week",
    "native-country": "native_country",
}

SEED = 0
N_INPUT_BATCH = 1_000
N_ADULT_BATCH = 200
# Missing categoricals become this constant before one-hot encoding, so "missing" is a category
# the model learned. It is the empty string because that is how a missing value travels in a CSV
# field and in an ONNX string tensor (which cannot hold NaN): sklearn, MLflow and ONNX agree.
CATEGORICAL_MISSING = ""

MODEL_ONNX = "model.onnx"
MLFLOW_ZIP = "mlflow_model.zip"
INPUT_BATCH = "input_batch.csv"
ADULT_BATCH = "adult_batch.csv"
METRICS = "metrics.json"
LAYER_AWS = "layer_file.zip"
LAYER_LOCAL = "layer_file.local.zip"
MANIFEST = "manifest.json"
LAYER_FILES = {LAYER_AWS: "aws", LAYER_LOCAL: "local"}
MODEL_FILES = (MODEL_ONNX, MLFLOW_ZIP, INPUT_BATCH, ADULT_BATCH, METRICS)

# ONNX metadata_props whose values are JSON (the others are plain strings).
_JSON_METADATA = ("features", "classes", "numeric_fill", "categories")
# ONNX opsets every onnxruntime since 1.14 runs (the Lambda layer may pin an older one than ours).
_TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can hold: no build time leaks into the bytes
_LAMBDA_INPUTS = ("lambda_code/requirements.txt", "lambda_code/build_layer.py")
_REPORTED_PARAMS = ("n_estimators", "max_depth", "learning_rate", "random_state")
# Types skops does not trust by default that this pipeline holds (the trees and a dtype). They
# are written into MLmodel and used on every load; save_model reloads the model with them, so a
# pipeline change that needs more fails the build here rather than at serving time.
_SKOPS_TRUSTED = ("numpy.dtype", "sklearn.tree._tree.Tree")
# Distributions whose versions enter the fingerprint (MLflow may be the full or the skinny one).
_VERSIONED = {
    "sklearn": ("scikit-learn",),
    "skl2onnx": ("skl2onnx",),
    "onnx": ("onnx",),
    "mlflow": ("mlflow", "mlflow-skinny"),
    "skops": ("skops",),
    "numpy": ("numpy",),
    "pandas": ("pandas",),
}


@dataclass(frozen=True)
class BuildReport:
    """What build_course produced: where, whether it built (False on a cache hit), file sizes, metrics."""

    out_dir: Path
    built: bool
    files: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)


def load_adult(split: Literal["train", "test"]) -> pd.DataFrame:
    """Return the UCI Adult split with the 12 lab feature columns plus `income`; missing values are NaN."""
    import pandas as pd

    if split not in DATA_FILES:
        raise ValueError(_("split must be 'train' or 'test', not {split}").format(split=repr(split)))
    df = pd.read_csv(
        DATA_FILES[split],
        header=None,
        names=list(_ADULT_COLUMNS),
        skipinitialspace=True,  # fields are separated by ", "
        na_values=["?"],
        keep_default_na=False,  # only '?' means missing
        skiprows=1 if split == "test" else 0,  # adult.test opens with "|1x3 Cross validator"
        compression="gzip",
    ).rename(columns=_RENAME)
    df[LABEL] = df[LABEL].str.rstrip(".")  # adult.test writes "<=50K."
    unexpected = set(df[LABEL].unique()) - set(CLASSES)
    if unexpected:
        raise ValueError(_("{file}: unexpected labels {labels}")
                         .format(file=DATA_FILES[split].name, labels=sorted(map(str, unexpected))))
    df = df.astype({c: "int64" for c in NUMERIC_FEATURES} | {c: "str" for c in CATEGORICAL_FEATURES})
    return df[[*FEATURES, LABEL]]


def load_onnx_metadata(path: Path | str) -> dict[str, Any]:
    """Return the model's metadata_props, JSON values decoded (features, classes, numeric_fill, categories)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return {
        p.key: json.loads(p.value) if p.key in _JSON_METADATA else p.value for p in model.metadata_props
    }


def onnx_feeds(df: pd.DataFrame, numeric_fill: dict[str, int | float]) -> dict[str, Any]:
    """Return model.onnx's inputs for a DataFrame of the 12 features: missing categories as "", numbers filled.

    `numeric_fill` is the model's metadata of that name (load_onnx_metadata).
    """
    import numpy as np

    feeds = {}
    for name in FEATURES:
        column = df[name]
        if name in NUMERIC_FEATURES:
            values = column.fillna(numeric_fill[name]).to_numpy(dtype=np.int64)
        else:
            values = column.astype(object).where(column.notna(), CATEGORICAL_MISSING).astype(str)
            values = values.to_numpy(dtype=object)
        feeds[name] = values.reshape(-1, 1)
    return feeds


def build_course(
    out_dir: Path = COURSE_DIR,
    on_progress: Callable[[str], None] = lambda _: None,
    force: bool = False,
    layers: bool = True,
) -> BuildReport:
    """Build the course artifacts into out_dir unless its manifest says they are current; return what is there.

    `layers=False` skips the Lambda layer zips (they need pip and the network); tests use it.
    """
    out_dir = Path(out_dir)
    wanted = [*MODEL_FILES, *(LAYER_FILES if layers else ())]
    fingerprint, inputs = _fingerprint()

    if not force:
        cached = _cached_report(out_dir, fingerprint, wanted)
        if cached is not None:
            on_progress(_("Course artifacts in {folder} are up to date (fingerprint {fingerprint}).")
                        .format(folder=out_dir, fingerprint=fingerprint[:12]))
            return cached

    started = time.monotonic()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # Build next to out_dir (same filesystem, so the final moves are atomic renames); a failure
    # anywhere before the moves leaves out_dir exactly as it was.
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.build-", dir=out_dir.parent))
    try:
        metrics = _build_model_files(tmp, on_progress)
        if layers:
            _build_layers(tmp, on_progress)
        files = {name: (tmp / name).stat().st_size for name in wanted}
        manifest = {
            "fingerprint": fingerprint,
            "inputs": inputs,
            "files": {name: {"size": files[name], "sha256": _sha256_file(tmp / name)} for name in wanted},
            "metrics": metrics,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")

        out_dir.mkdir(exist_ok=True)
        # The manifest goes first and comes back last: an interrupted move leaves no manifest,
        # so the next run rebuilds instead of trusting a mixed set of files.
        (out_dir / MANIFEST).unlink(missing_ok=True)
        for name in wanted:
            os.replace(tmp / name, out_dir / name)
        os.replace(tmp / MANIFEST, out_dir / MANIFEST)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    on_progress(_("Built {n} course artifacts in {folder} in {seconds} s.")
                .format(n=len(files), folder=out_dir, seconds=number(time.monotonic() - started, 1)))
    return BuildReport(out_dir=out_dir, built=True, files=files, metrics=metrics)


# --- cache -------------------------------------------------------------------------------------


def _fingerprint() -> tuple[str, dict[str, Any]]:
    """Return the sha256 of everything the artifacts depend on, and that breakdown (for the manifest)."""
    files = [*DATA_FILES.values(), Path(__file__)]
    files += [PROJECT_ROOT / rel for rel in _LAMBDA_INPUTS if (PROJECT_ROOT / rel).is_file()]
    inputs = {
        "files": {_display_path(p): _sha256_file(p) for p in files},
        "versions": {"python": f"{sys.version_info.major}.{sys.version_info.minor}"}
        | {name: _dist_version(*dists) for name, dists in _VERSIONED.items()},
    }
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()
    return digest, inputs


def _cached_report(out_dir: Path, fingerprint: str, wanted: list[str]) -> BuildReport | None:
    """Return the report of a current build in out_dir, or None if anything is stale or missing."""
    try:
        manifest = json.loads((out_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("fingerprint") != fingerprint:
        return None
    recorded = manifest.get("files") or {}
    files: dict[str, int] = {}
    for name in wanted:
        path = out_dir / name
        size = (recorded.get(name) or {}).get("size")
        # A size check catches truncated or replaced files without re-hashing 100 MB of layers.
        if size is None or not path.is_file() or path.stat().st_size != size:
            return None
        files[name] = size
    return BuildReport(out_dir=out_dir, built=False, files=files, metrics=manifest.get("metrics", {}))


def _dist_version(*distributions: str) -> str:
    """Return the installed version of the first distribution found, without importing it (a cache hit stays fast)."""
    from importlib.metadata import PackageNotFoundError, version

    for dist in distributions:
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return "missing"


def _display_path(path: Path) -> str:
    try:
        return path.resolve().relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return str(path)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --- model -------------------------------------------------------------------------------------


def _make_pipeline() -> Pipeline:
    """Return the unfitted model: per-feature preprocessing, then gradient boosting."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    def categorical() -> Pipeline:
        return Pipeline(
            [
                ("impute", SimpleImputer(strategy="constant", fill_value=CATEGORICAL_MISSING)),
                ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
            ]
        )

    # One branch per categorical column rather than one over all eight: in ONNX the joint branch
    # concatenates and re-splits string tensors, which made scoring a million rows ~40% slower.
    prep = ColumnTransformer(
        [("numeric", SimpleImputer(strategy="median"), list(NUMERIC_FEATURES))]
        + [(name, categorical(), [name]) for name in CATEGORICAL_FEATURES]
    )
    # 100 trees of depth 4: ~0.87 test accuracy, a ~120 kB ONNX graph that scores 1M rows in ~3 s
    # on one thread. (HistGradientBoosting fits faster but skl2onnx 1.20 emits booleans that
    # onnx 1.23 rejects when converting it.)
    clf = GradientBoostingClassifier(n_estimators=100, max_depth=4, learning_rate=0.1, random_state=SEED)
    return Pipeline([("prep", prep), ("clf", clf)])


def _build_model_files(tmp: Path, on_progress: Callable[[str], None]) -> dict[str, Any]:
    """Train, export and write every non-layer artifact into tmp; return the metrics."""
    import numpy as np
    from sklearn.metrics import accuracy_score, roc_auc_score

    on_progress(_("Loading the UCI Adult data …"))
    train, test = load_adult("train"), load_adult("test")

    on_progress(_("Training the model on {rows} rows …").format(rows=number(len(train))))
    started = time.monotonic()
    pipe = _make_pipeline().fit(train[list(FEATURES)], train[LABEL])
    if tuple(pipe.classes_) != CLASSES:
        raise RuntimeError(_("model classes {found} differ from {expected}")
                           .format(found=tuple(pipe.classes_), expected=CLASSES))

    x_test = test[list(FEATURES)]
    proba = pipe.predict_proba(x_test)
    accuracy = float(accuracy_score(test[LABEL], np.asarray(CLASSES)[proba.argmax(axis=1)]))
    auc = float(roc_auc_score(test[LABEL] == CLASSES[1], proba[:, 1]))
    on_progress(_("Trained in {seconds} s: test accuracy {accuracy}, ROC AUC {auc} on {rows} rows.").format(
        seconds=number(time.monotonic() - started, 1), accuracy=number(accuracy, 4), auc=number(auc, 4),
        rows=number(len(test))))

    on_progress(_("Exporting model.onnx …"))
    onnx_bytes, model_version = _to_onnx(pipe)
    on_progress(_("model.onnx: {size} bytes, model_version {version}.")
                .format(size=number(len(onnx_bytes)), version=model_version))
    (tmp / MODEL_ONNX).write_bytes(onnx_bytes)
    onnx_diff = float(np.abs(_onnx_proba(tmp / MODEL_ONNX, x_test) - proba).max())
    if onnx_diff > 1e-4:  # a converter regression must fail the build, not ship a different model
        raise RuntimeError(_("model.onnx disagrees with scikit-learn by {difference}")
                           .format(difference=f"{onnx_diff:.2e}"))

    on_progress(_("Writing input_batch.csv and adult_batch.csv …"))
    sample = test.sample(n=N_INPUT_BATCH + N_ADULT_BATCH, random_state=SEED)
    input_batch = sample.iloc[:N_INPUT_BATCH].sort_index()[list(FEATURES)]
    adult_batch = sample.iloc[N_INPUT_BATCH:].sort_index()[[*FEATURES, LABEL]]
    input_batch.to_csv(tmp / INPUT_BATCH, index=False, na_rep="", lineterminator="\n")
    adult_batch.to_csv(tmp / ADULT_BATCH, index=False, na_rep="", lineterminator="\n")

    on_progress(_("Saving the MLflow model …"))
    _save_mlflow_zip(pipe, train[list(FEATURES)], input_batch.head(5), tmp / MLFLOW_ZIP)

    metrics = {
        "accuracy": round(accuracy, 6),
        "roc_auc": round(auc, 6),
        "n_train": len(train),
        "n_test": len(test),
        "classifier": type(pipe.named_steps["clf"]).__name__,
        "params": {k: v for k, v in pipe.named_steps["clf"].get_params().items() if k in _REPORTED_PARAMS},
        "model_version": model_version,
        "onnx_max_abs_diff": onnx_diff,
    }
    (tmp / METRICS).write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return metrics


def _to_onnx(pipe: Pipeline) -> tuple[bytes, str]:
    """Return model.onnx's bytes (per-feature [N,1] inputs, label + probabilities, metadata) and its version."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import Int64TensorType, StringTensorType
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.impute import SimpleImputer

    initial_types = [
        (name, Int64TensorType([None, 1]) if name in NUMERIC_FEATURES else StringTensorType([None, 1]))
        for name in FEATURES
    ]
    model = convert_sklearn(
        pipe,
        initial_types=initial_types,
        name="adult_income",  # skl2onnx names the graph with a random uuid otherwise
        target_opset=_TARGET_OPSET,
        # no ZipMap: probabilities stay a plain [N,2] float tensor (the handout wrote ZipMap's dicts to CSV)
        options={GradientBoostingClassifier: {"zipmap": False}},
        custom_conversion_functions={SimpleImputer: _convert_imputer},
    )
    # skl2onnx lists the opsets in set order, which varies with PYTHONHASHSEED.
    opsets = sorted(model.opset_import, key=lambda o: o.domain)
    del model.opset_import[:]
    model.opset_import.extend(opsets)
    # Named after the model itself, so it changes exactly when the predictions can.
    model_version = hashlib.sha256(model.SerializeToString()).hexdigest()[:12]

    prep = pipe.named_steps["prep"]
    numeric_fill = {
        name: _json_number(value)
        for name, value in zip(NUMERIC_FEATURES, prep.named_transformers_["numeric"].statistics_)
    }
    categories = {
        name: sorted(str(c) for c in prep.named_transformers_[name].named_steps["onehot"].categories_[0]
                     if c != CATEGORICAL_MISSING)
        for name in CATEGORICAL_FEATURES
    }
    metadata = {
        "features": json.dumps(list(FEATURES)),
        "classes": json.dumps(list(CLASSES)),
        "numeric_fill": json.dumps(numeric_fill, sort_keys=True),
        "categories": json.dumps(categories, sort_keys=True),
        "model_version": model_version,
    }
    del model.metadata_props[:]
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.doc_string = (
        "Predicts whether yearly income is >50K from 12 UCI Adult census features "
        "(Becker & Kohavi 1996, CC BY 4.0). "
        f"Inputs: one [N,1] tensor per feature; int64 {', '.join(NUMERIC_FEATURES)}; "
        f"string {', '.join(CATEGORICAL_FEATURES)}. "
        "Outputs: label (string [N], '<=50K' or '>50K') and probabilities (float [N,2], columns "
        "in metadata 'classes'). A missing category is the empty string; an unknown category is "
        "ignored; a missing number must be filled by the caller with metadata 'numeric_fill'."
    )
    return model.SerializeToString(), model_version


def _convert_imputer(scope: Any, operator: Any, container: Any) -> None:
    """skl2onnx converter for SimpleImputer that passes through tensors which cannot hold NaN.

    The stock converter refuses a string input whose missing marker is NaN (and turns NaN into
    INT64_MIN for int64 input). An ONNX string or int64 tensor cannot carry NaN, so for them
    NaN-imputation is the identity; a missing category arrives as "" (a category the model knows)
    and a missing number is filled by the caller from metadata 'numeric_fill'.
    """
    from skl2onnx.common.data_types import Int64TensorType, StringTensorType
    from skl2onnx.operator_converters.common import concatenate_variables
    from skl2onnx.operator_converters.imputer_op import convert_sklearn_imputer

    imputer = operator.raw_operator
    nan_marker = isinstance(imputer.missing_values, float) and imputer.missing_values != imputer.missing_values
    if nan_marker and isinstance(operator.inputs[0].type, (StringTensorType, Int64TensorType)):
        joined = concatenate_variables(scope, operator.inputs, container)
        container.add_node(
            "Identity", [joined], [operator.outputs[0].full_name], name=scope.get_unique_operator_name("Identity")
        )
    else:
        convert_sklearn_imputer(scope, operator, container)


def _json_number(value: float) -> int | float:
    """Return value as int when it is whole (it fills int64 inputs), else as float."""
    return int(value) if float(value).is_integer() else float(value)


def _onnx_proba(path: Path, df: pd.DataFrame) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # a few thousand rows; leave the other core to the machine
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    fill = load_onnx_metadata(path)["numeric_fill"]
    _, proba = session.run(["label", "probabilities"], onnx_feeds(df, fill))
    return proba


# --- MLflow ------------------------------------------------------------------------------------


def _save_mlflow_zip(pipe: Pipeline, train_x: pd.DataFrame, example: pd.DataFrame, dest: Path) -> None:
    """Save the fitted pipeline as an MLflow model (skops, predict_proba) and zip it, MLmodel at the root."""
    import mlflow.sklearn
    from mlflow.models import infer_signature

    model_dir = dest.with_suffix("")
    with warnings.catch_warnings():
        # MLflow hints that integer columns cannot hold missing values; that is deliberate here:
        # the numerics are long, as in model.onnx (int64), and Adult has no missing numbers.
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column")
        # MLflow 3.17 compares columns with a range, which pandas 3 deprecates: its noise, not ours.
        warnings.filterwarnings("ignore", message="Operation with range is deprecated")
        # Inferred from the whole training set, so the columns with missing values there
        # (work_class, occupation, native_country) are optional and accept nulls.
        signature = infer_signature(train_x, pipe.predict_proba(example))
        mlflow.sklearn.save_model(
            pipe,
            str(model_dir),
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
            skops_trusted_types=list(_SKOPS_TRUSTED),
            signature=signature,
            input_example=example,
            # The pyfunc (and so the SageMaker endpoint and the scoring server) returns
            # [[p(<=50K), p(>50K)], ...] rather than labels.
            pyfunc_predict_fn="predict_proba",
            # Pinned explicitly: by default MLflow infers them by loading the model in a subprocess.
            pip_requirements=mlflow.sklearn.get_default_pip_requirements(include_skops=True),
        )
    _zip_dir(model_dir, dest)
    shutil.rmtree(model_dir)


def _zip_dir(src: Path, dest: Path) -> None:
    """Zip src's files with paths relative to src: sorted names, fixed timestamps and modes."""
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file()):
            path = src / name
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())


# --- Lambda layers -----------------------------------------------------------------------------


def _build_layers(tmp: Path, on_progress: Callable[[str], None]) -> None:
    """Build the Lambda layer for AWS (python3.12 x86_64) and the sandbox's (local interpreter) into tmp."""
    from lambda_code.build_layer import build_layer

    for name, platform in LAYER_FILES.items():
        on_progress(_("Building the Lambda layer {name} ({platform}) …").format(name=name, platform=platform))
        build_layer(tmp / name, platform)
        if not (tmp / name).is_file():
            raise RuntimeError(_("build_layer({platform}) did not write {name}").format(platform=repr(platform),
                                                                                          name=name))
