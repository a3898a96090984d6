"""The layer build: zip layout, stripping, determinism, and a layer that really imports."""

from __future__ import annotations

import functools
import io
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import build_layer

ROOT = Path(__file__).resolve().parents[2]
COURSE_MODEL = ROOT / "build" / "course" / "model.onnx"


def test_zip_is_deterministic_and_sorted(tmp_path):
    tree = tmp_path / "tree"
    files = {"python/b.py": "b", "python/a/x.so": "x", "python/a/__init__.py": ""}
    for name, body in files.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text(body)
    (tree / "python/a/x.so").chmod(0o755)
    first, second = tmp_path / "1.zip", tmp_path / "2.zip"
    build_layer.write_deterministic_zip(tree, first)
    (tree / "python/b.py").touch()  # a newer mtime must not change the zip
    build_layer.write_deterministic_zip(tree, second)
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as zf:
        infos = zf.infolist()
    assert [i.filename for i in infos] == ["python/a/__init__.py", "python/a/x.so", "python/b.py"]
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert (infos[1].external_attr >> 16) & 0o777 == 0o755


def test_strip_keeps_what_imports_need(tmp_path):
    root = tmp_path / "python"
    files = ["numpy/__init__.py", "numpy/__pycache__/x.pyc", "numpy/_core/tests/test_a.py",
             "numpy/testing/__init__.py", "numpy.libs/libopenblas.so", "bin/f2py",
             "numpy-2.4.6.dist-info/RECORD", "numpy-2.4.6.dist-info/METADATA",
             "numpy-2.4.6.dist-info/INSTALLER", "onnxruntime/tests/keep.py", "loose.pyc"]
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x")
    build_layer._strip(root)
    left = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert left == ["numpy-2.4.6.dist-info/METADATA", "numpy.libs/libopenblas.so",
                    "numpy/__init__.py", "numpy/testing/__init__.py",
                    "onnxruntime/tests/keep.py"]


def test_unknown_platform_is_refused(tmp_path):
    with pytest.raises(ValueError, match="platform"):
        build_layer.build_layer(tmp_path / "x.zip", "arm")


@pytest.fixture(scope="module")
def local_layer(tmp_path_factory) -> Path:
    """The sandbox layer (local interpreter). Wheels and zip are cached under build/, so only
    the first run on a machine downloads from PyPI."""
    dest = tmp_path_factory.mktemp("layer")
    return build_layer.build_layer(dest, "local")


def test_local_layer_scores_with_only_its_own_libraries(local_layer, model_path, tmp_path):
    assert local_layer.name == "layer_file.zip"
    with zipfile.ZipFile(local_layer) as zf:
        names = zf.namelist()
        zf.extractall(tmp_path / "opt")
    assert all(n.startswith("python/") for n in names)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert any(n.startswith("python/onnxruntime/") for n in names)
    assert any(n.startswith("python/numpy.libs/") for n in names)
    assert not any(n.split("/")[1].startswith(("pandas", "boto", "sympy")) for n in names)
    # -S: no site-packages, so numpy and onnxruntime can only come from the layer (/opt/python).
    code = ("import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]\n"
            "import numpy, onnxruntime as ort\n"
            "assert numpy.__file__.startswith(sys.argv[1]), numpy.__file__\n"
            "s = ort.InferenceSession(sys.argv[3])\n"
            "feed = {i.name: (numpy.array([[40]], numpy.int64) if i.type == 'tensor(int64)'"
            " else numpy.array([['x']], object)) for i in s.get_inputs()}\n"
            "print(s.run(None, feed)[0][0])\n")
    proc = subprocess.run([sys.executable, "-S", "-c", code, str(tmp_path / "opt" / "python"),
                           str(ROOT / "lambda_code"), str(model_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() in ("<=50K", ">50K")


def test_rebuild_is_a_cached_copy(local_layer, tmp_path):
    again = build_layer.build_layer(tmp_path / "again.zip", "local")
    assert again.read_bytes() == local_layer.read_bytes()


def test_aws_layer_fits_lambda_limits(tmp_path):
    out = build_layer.build_layer(tmp_path / "layer_file.zip", "aws")
    zipped, unzipped = build_layer.layer_sizes(out)
    assert zipped < build_layer.DIRECT_UPLOAD_LIMIT
    assert unzipped < build_layer.UNZIPPED_LIMIT - 5 * 2**20  # room left for the function
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
    assert any("cpython-312-x86_64-linux-gnu.so" in n for n in names)
    assert not any("cpython-311" in n for n in names)


def test_command_line(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "lambda_code" / "build_layer.py"),
                           "--platform", "local", "--dest", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "MB zipped" in proc.stdout
    assert (tmp_path / "layer_file.zip").exists()


@functools.cache
def _python312() -> str | None:
    """A working python3.12 (Lambda's runtime version), if this machine has one."""
    candidates = [str(p) for p in sorted(Path.home().glob(".pyenv/versions/3.12*/bin/python3.12"))]
    candidates.append(shutil.which("python3.12") or "")
    for exe in filter(None, candidates):
        ok = subprocess.run([exe, "-c", "import sys; assert sys.version_info[:2] == (3, 12)"],
                            capture_output=True).returncode == 0
        if ok:
            return exe
    return None


@pytest.mark.skipif(_python312() is None, reason="no python3.12 on this machine")
def test_aws_layer_runs_the_handler_on_python312(tmp_path, model_path):
    """The runtime's interpreter with only the AWS layer, the function's folder and a stand-in
    boto3 (the runtime's own): same predictions as the development interpreter."""
    layer = build_layer.build_layer(tmp_path / "layer_file.zip", "aws")
    with zipfile.ZipFile(layer) as zf:
        zf.extractall(tmp_path / "opt")
    stub = tmp_path / "runtime"
    (stub / "boto3" / "s3").mkdir(parents=True)
    (stub / "boto3" / "__init__.py").write_text("def client(*args, **kwargs):\n    raise OSError\n")
    (stub / "boto3" / "s3" / "__init__.py").write_text("")
    (stub / "boto3" / "s3" / "transfer.py").write_text(
        "class TransferConfig:\n    def __init__(self, **kwargs):\n        pass\n")
    body = b"age,work_class,education,marital_status,occupation,relationship,race,sex," \
           b"capital_gain,capital_loss,hours_per_week,native_country\n" \
           b"39,State-gov,Bachelors,Never-married,Adm-clerical,Not-in-family,White,Male," \
           b"2174,0,40,United-States\n52,,Masters,,Exec-managerial,Husband,White,Male,,0,60,\n"
    (tmp_path / "in.csv").write_bytes(body)
    code = ("import io, sys\n"
            "sys.path[:0] = sys.argv[1:4]\n"
            "import batch_reader, handler\n"
            "assert sys.version_info[:2] == (3, 12)\n"
            "out = io.StringIO()\n"
            "session = batch_reader.load_session(sys.argv[4])\n"
            "batch_reader.score_csv(open(sys.argv[5], 'rb'), out, session)\n"
            "sys.stdout.write(out.getvalue())\n")
    model = COURSE_MODEL if COURSE_MODEL.exists() else model_path
    proc = subprocess.run([_python312(), "-S", "-c", code, str(tmp_path / "opt" / "python"),
                           str(ROOT / "lambda_code"), str(stub), str(model),
                           str(tmp_path / "in.csv")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    sys.path.insert(0, str(ROOT / "lambda_code"))
    import batch_reader

    out = io.StringIO()
    batch_reader.score_csv(io.BytesIO(body), out, batch_reader.load_session(model))
    assert proc.stdout == out.getvalue()
