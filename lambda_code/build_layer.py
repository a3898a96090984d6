"""Build the Lambda layer zip (``python/...``) holding the handler's libraries.

``build_layer(dest, "aws")`` targets the Lambda runtime python3.12 x86_64 (manylinux wheels);
``build_layer(dest, "local")`` targets the interpreter running this script, for the sandbox, which
runs handlers with the local python. Wheels and finished zips are cached (``build/layer-cache``
by default), so a rebuild with unchanged pins is a file copy.

    python lambda_code/build_layer.py --platform aws --dest build/course/layer_file.zip
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import uuid
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements.txt"
DEFAULT_CACHE = HERE.parent / "build" / "layer-cache"
LAYER_ZIP_NAME = "layer_file.zip"

# Lambda python3.12 runs on Amazon Linux 2023 (glibc 2.34). onnxruntime's cp312 Linux wheels
# are tagged manylinux_2_28 only, numpy's both, so pip needs both platform tags.
AWS_PIP_TARGET = [
    "--platform", "manylinux2014_x86_64",
    "--platform", "manylinux_2_28_x86_64",
    "--python-version", "3.12",
    "--implementation", "cp",
    "--abi", "cp312",
]
PLATFORMS = ("aws", "local")

# AWS limits: 50 MB for a zip uploaded directly, 250 MB unzipped for function + layers.
DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024
UNZIPPED_LIMIT = 250 * 1024 * 1024

# Bump when the stripping or zip layout changes, so cached zips are rebuilt.
_LAYOUT_VERSION = "1"
# Fixed timestamp (the zip format's epoch) so the same inputs give byte-identical zips.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
# dist-info files that are install bookkeeping, stale after stripping, or machine-specific.
# METADATA and the licences stay: importlib.metadata keeps working and the bundled
# libraries' licences (OpenBLAS, gfortran runtime) ship with them.
_DIST_INFO_DROP = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


class LayerBuildError(RuntimeError):
    """pip failed or the built layer breaks a size limit."""


def build_layer(dest: Path, platform: str, *, cache_dir: Path | None = None,
                requirements: Path = REQUIREMENTS) -> Path:
    """Build the layer zip for ``platform`` ("aws" or "local") and return its path.

    ``dest`` is the zip file to write, or an existing directory (then ``layer_file.zip`` in it).
    """
    if platform not in PLATFORMS:
        raise ValueError(f"platform must be one of {PLATFORMS}, not {platform!r}")
    dest = Path(dest)
    if dest.is_dir():
        dest = dest / LAYER_ZIP_NAME
    cache_dir = Path(cache_dir or os.environ.get("LAYER_CACHE_DIR") or DEFAULT_CACHE)
    tag = _platform_tag(platform)
    reqs = requirements.read_bytes()
    key = hashlib.sha256(reqs + tag.encode() + _LAYOUT_VERSION.encode()).hexdigest()[:16]
    cached_zip = cache_dir / "zips" / f"{tag}-{key}.zip"

    if not cached_zip.exists():
        wheels = cache_dir / "wheels" / tag
        _pip_download(requirements, wheels, platform)
        cached_zip.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="layer-") as tmp:
            root = Path(tmp) / "python"
            _pip_install(requirements, wheels, root, platform)
            _strip(root)
            # A unique name: two builds at once (two terminals, a test and `make`) must not share it.
            partial = cached_zip.with_name(f"{cached_zip.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.partial")
            write_deterministic_zip(Path(tmp), partial)
            unzipped = tree_size(Path(tmp))
        if unzipped > UNZIPPED_LIMIT:
            partial.unlink()
            raise LayerBuildError(f"layer is {unzipped / 2**20:.0f} MB unzipped, over "
                                  f"Lambda's {UNZIPPED_LIMIT / 2**20:.0f} MB")
        partial.replace(cached_zip)  # atomic: the same content whoever renames last

    dest.parent.mkdir(parents=True, exist_ok=True)
    if cached_zip.resolve() != dest.resolve():
        copy = dest.with_name(f"{dest.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.partial")
        shutil.copyfile(cached_zip, copy)
        copy.replace(dest)
    return dest


def layer_sizes(zip_path: Path) -> tuple[int, int]:
    """Return (zipped, unzipped) sizes in bytes of a layer zip."""
    with zipfile.ZipFile(zip_path) as zf:
        unzipped = sum(info.file_size for info in zf.infolist())
    return zip_path.stat().st_size, unzipped


def write_deterministic_zip(src: Path, dest: Path) -> None:
    """Zip every file under ``src`` (paths relative to it), sorted, with fixed timestamps."""
    files = sorted(p for p in src.rglob("*") if p.is_file())
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(src).as_posix(), date_time=_ZIP_DATE)
            mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
            info.external_attr = (0o100000 | mode) << 16  # regular file + permissions
            info.compress_type = zipfile.ZIP_DEFLATED
            with path.open("rb") as fh, zf.open(info, "w") as out:
                shutil.copyfileobj(fh, out, 1 << 20)


def tree_size(root: Path) -> int:
    """Return the total size in bytes of the files under ``root``."""
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _platform_tag(platform: str) -> str:
    if platform == "aws":
        return "aws-cp312-manylinux_x86_64"
    impl = sys.implementation.cache_tag  # e.g. cpython-311
    return f"local-{impl}-{sysconfig.get_platform().replace('-', '_')}"


def _pip_target_args(platform: str) -> list[str]:
    # --no-deps: the pins are the complete runtime set (see requirements.txt).
    args = ["--only-binary=:all:", "--no-deps"]
    return args + (AWS_PIP_TARGET if platform == "aws" else [])


def _pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise LayerBuildError(f"{' '.join(cmd)} failed:\n{proc.stderr.strip()}")


def _pip_download(requirements: Path, wheels: Path, platform: str) -> None:
    # pip skips the network for files already in -d (it still checks the index), so cheap to
    # repeat; skipping it entirely when every pin has a wheel makes offline rebuilds work.
    if wheels.is_dir() and _all_pins_cached(requirements, wheels):
        return
    wheels.mkdir(parents=True, exist_ok=True)
    _pip("download", *_pip_target_args(platform), "-r", str(requirements), "-d", str(wheels))


def _all_pins_cached(requirements: Path, wheels: Path) -> bool:
    names = {"-".join(w.name.split("-")[:2]).lower() for w in wheels.glob("*.whl")}
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if "==" not in line:
            return False
        name, version = (s.strip() for s in line.split("==", 1))
        if f"{name.lower().replace('-', '_')}-{version}" not in names:
            return False
    return True


def _pip_install(requirements: Path, wheels: Path, target: Path, platform: str) -> None:
    _pip("install", *_pip_target_args(platform), "--no-index", "--find-links", str(wheels),
         "--no-compile", "--target", str(target), "-r", str(requirements))


def _strip(root: Path) -> None:
    """Drop what imports never need: bytecode, console scripts, tests, install bookkeeping."""
    # Console scripts carry the build machine's interpreter path in their shebang.
    shutil.rmtree(root / "bin", ignore_errors=True)
    for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if not path.exists():
            continue
        if path.is_dir() and (path.name == "__pycache__" or _is_test_dir(path, root)):
            shutil.rmtree(path)
        elif path.is_file() and (path.suffix == ".pyc"
                                 or (path.parent.name.endswith(".dist-info")
                                     and path.name in _DIST_INFO_DROP)):
            path.unlink()


def _is_test_dir(path: Path, root: Path) -> bool:
    # Only numpy's own test suites (numpy/**/tests): nothing imports them. Other packages'
    # "tests" folders are left alone; *.libs/ folders are never touched (numpy needs them).
    rel = path.relative_to(root).parts
    return path.name == "tests" and rel[0] == "numpy"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platform", choices=PLATFORMS, default="aws")
    parser.add_argument("--dest", type=Path, required=True,
                        help="zip file to write, or an existing directory")
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        out = build_layer(args.dest, args.platform, cache_dir=args.cache_dir)
    except LayerBuildError as err:
        print(f"build_layer: {err}", file=sys.stderr)
        return 1
    zipped, unzipped = layer_sizes(out)
    note = "" if zipped < DIRECT_UPLOAD_LIMIT else " (over 50 MB: publish through S3)"
    print(f"{out}: {zipped / 2**20:.1f} MB zipped, {unzipped / 2**20:.1f} MB unzipped{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
