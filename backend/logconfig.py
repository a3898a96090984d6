"""The one logging set-up of the CLI, the sandbox and the dashboard: timestamps, levels, `-v`.

The backend only logs (`logging.getLogger(__name__)`); whoever runs it calls `setup_logging` once.
Verbosity 0 shows warnings and errors, 1 (`-v`) adds what the lab does (INFO), 2 (`-vv`) adds the
backend's DEBUG lines; the libraries stay at INFO even then (botocore's DEBUG dumps every request).
A log file, when given, always gets INFO and above, whatever the terminal shows.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path

from .config import PROJECT_ROOT

# $MLOPS_LAB_LOG_DIR moves them (the test suite does, so its runs never write into the student's logs).
LOG_DIR = Path(os.environ.get("MLOPS_LAB_LOG_DIR") or PROJECT_ROOT / "build" / "logs")
SANDBOX_LOG = LOG_DIR / "sandbox.log"
DASHBOARD_LOG = LOG_DIR / "dashboard.log"

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
# Our own code, whose DEBUG lines -vv shows (lambda_code runs in the sandbox's Lambda processes too).
OWN_LOGGERS = ("backend", "lambda_code", "ec2_app")

_lock = threading.Lock()
_installed: tuple[int, Path | None] | None = None
_handlers: list[logging.Handler] = []


class _Stderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (pytest and Streamlit swap it), like logging.lastResort."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def level_for(verbosity: int) -> int:
    """Return the terminal's level for a verbosity (0 WARNING, 1 INFO, 2+ DEBUG)."""
    return logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG


def setup_logging(verbosity: int = 0, log_file: Path | None = None) -> None:
    """Configure the root logger: stderr at the verbosity's level, plus log_file (INFO+) if given.

    Idempotent: a second call with the same arguments changes nothing (Streamlit re-runs its script
    on every click); with other arguments it replaces what the previous call installed, and only that.
    """
    global _installed
    log_file = Path(log_file) if log_file is not None else None
    with _lock:
        if _installed == (verbosity, log_file):
            return
        root = logging.getLogger()
        for handler in _handlers:
            root.removeHandler(handler)
            handler.close()
        _handlers.clear()

        formatter = logging.Formatter(FORMAT, DATE_FORMAT)
        terminal_level = level_for(verbosity)
        terminal = _Stderr()
        terminal.setLevel(terminal_level)
        _handlers.append(terminal)
        if log_file is not None:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            to_file = logging.FileHandler(log_file, encoding="utf-8")
            to_file.setLevel(min(terminal_level, logging.INFO))
            _handlers.append(to_file)
        for handler in _handlers:
            handler.setFormatter(formatter)
            root.addHandler(handler)

        lowest = min(handler.level for handler in _handlers)
        # The libraries stop at INFO; only -vv lowers our own loggers (else they follow the root).
        root.setLevel(max(lowest, logging.INFO))
        for name in OWN_LOGGERS:
            logging.getLogger(name).setLevel(lowest if lowest < logging.INFO else logging.NOTSET)
        _installed = (verbosity, log_file)
