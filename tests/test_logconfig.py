"""One logging set-up: timestamps and levels on stderr, -v / -vv anywhere on the CLI line, a log file."""
from __future__ import annotations

import logging
import re
import socket

import pytest

from backend import cli
from backend.logconfig import setup_logging

STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (INFO|DEBUG|WARNING|ERROR) +[\w.]+: ", re.M)


@pytest.fixture(autouse=True)
def quiet_afterwards():
    yield
    setup_logging(0)  # leave the process as a plain CLI run would


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_cli(capsys, *flags: str) -> tuple[int, str]:
    # A fresh data folder: the sandbox's keys are made now, which the backend logs at INFO; nothing answers.
    code = cli.main(["lab", "check", "1", "--svc", "abc", *flags,
                     "--endpoint-url", f"http://127.0.0.1:{closed_port()}"])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_cli_logs_timestamped_lines_to_stderr(capsys, where):
    argv = ["-v", "lab", "check", "1", "--svc", "abc"] if where == "before" else \
        ["lab", "check", "1", "--svc", "abc", "-v"]
    code = cli.main([*argv, "--endpoint-url", f"http://127.0.0.1:{closed_port()}"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_AWS  # nothing answers on that port
    lines = STAMP.findall(err)
    assert "INFO" in lines, err
    assert "INFO    backend.aws: created the sandbox's keys" in err
    assert "error: The sandbox at" in err  # the one-line reason stays as it was


def test_without_verbose_no_info_lines(capsys):
    code, err = run_cli(capsys)
    assert code == cli.EXIT_AWS
    assert " INFO " not in err and "created the sandbox's keys" not in err
    assert "error: The sandbox at" in err


def test_vv_shows_the_backends_debug_lines_but_not_botocores(capsys):
    setup_logging(2)
    logging.getLogger("backend.test").debug("ours")
    logging.getLogger("botocore.test").debug("theirs")
    err = capsys.readouterr().err
    assert re.search(r"DEBUG +backend\.test: ours", err) and "theirs" not in err


def test_setup_is_idempotent_and_writes_the_log_file(tmp_path, capsys):
    log_file = tmp_path / "logs" / "dashboard.log"
    for _ in range(3):  # Streamlit runs the script on every click
        setup_logging(log_file=log_file)
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, logging.FileHandler) and h.baseFilename == str(log_file)]
    assert len(ours) == 1
    logging.getLogger("backend.test").info("to the file only")
    logging.getLogger("backend.test").warning("to both")
    for handler in ours:
        handler.flush()
    text = log_file.read_text()
    assert STAMP.search(text) and "to the file only" in text and "to both" in text
    err = capsys.readouterr().err
    assert "to both" in err and "to the file only" not in err  # the terminal stays at WARNING
    assert err.count("to both") == 1  # one stderr handler, however often it was set up
