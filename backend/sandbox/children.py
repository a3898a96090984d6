"""What the sandbox starts (processes, temp folders) never outlives it, even on kill -9.

Every process the sandbox starts goes through `spawn()`; every temp folder through `temp_dir()`.

How a child dies with the sandbox: a supervising pipe. `spawn()` runs the command through
child_launcher.py, which makes it the leader of a new process group and leaves a watcher in that
group holding the read end of a pipe whose write end only this process holds. When this process
dies, however it dies, the kernel closes the write end; the watcher reads EOF and kills the whole
group (so grandchildren, e.g. a server's workers, go too). Linux's PR_SET_PDEATHSIG was not used:
it fires when the *thread* that forked the child exits, and the sandbox spawns from worker
threads (thread pools come and go), and it reaches only the direct child, not its group.

What a sandbox started is also recorded, for the next start to clean if a watcher could not:
one run folder per sandbox process under `<user_data_dir>/sandbox-runs/<pid>-<start>/` holding
`run.json` (the owner: pid, start time, boot id), `children/<pid>` (each child's start time) and
`tmp/` (every temp folder: `temp_dir(prefix)`). `clean_leftovers()` (called as a sandbox starts)
removes the run folders of processes that no longer exist, after killing the children they
recorded that still run (a pid is ours only if its start time and boot match: pids are recycled).
"""
from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

LAUNCHER = Path(__file__).with_name("child_launcher.py")
RUNS_DIRNAME = "sandbox-runs"
# A run folder without run.json is being created, or its owner died while creating it.
INCOMPLETE_RUN_GRACE_S = 60.0

File = int | IO[Any] | None


def runs_root() -> Path:
    """The folder holding one run folder per sandbox process (live or left over)."""
    from ..config import user_data_dir

    return user_data_dir() / RUNS_DIRNAME


# --- /proc -------------------------------------------------------------------------------------

def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, process group, start time in clock ticks since boot) of a process, or None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = text[text.rfind(")") + 2:].split()  # after "pid (comm) "; comm may hold spaces
    try:
        return fields[0], int(fields[2]), int(fields[19])
    except (IndexError, ValueError):
        return None


def _alive(pid: int, start: int) -> bool:
    """True if the process pid started at start (clock ticks) still runs (a zombie does not)."""
    stat = _stat(pid)
    return stat is not None and stat[2] == start and stat[0] not in ("Z", "X")


def _group_members(pgid: int) -> list[int]:
    members = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = _stat(int(name))
            if stat is not None and stat[1] == pgid and stat[0] not in ("Z", "X"):
                members.append(int(name))
    return members


def _kill_recorded(pid: int, start: int) -> bool:
    """Kill a recorded child and its process group if they are still ours; True if something was killed.

    The child leads its group (pgid == pid). While any member of that group lives, the kernel never
    hands the number out again, so group members are ours even when the leader is gone.
    """
    stat = _stat(pid)
    if stat is not None and stat[2] != start:
        return False  # the pid was recycled: another process, not ours
    if stat is not None or _group_members(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
            return True
        except (ProcessLookupError, PermissionError):
            pass
    return False


# --- this process's run ----------------------------------------------------------------------

@dataclass
class _Run:
    pid: int
    folder: Path
    watch_read: int
    watch_write: int  # held by this process only (close-on-exec), never written: its EOF is our death


_lock = threading.Lock()
_run: _Run | None = None
_children: dict[int, tuple[subprocess.Popen[bytes], Path]] = {}


def _current_run() -> _Run:
    """This process's run folder and watch pipe, created on first use (again in a forked child)."""
    global _run
    with _lock:
        if _run is not None and _run.pid == os.getpid():
            return _run
        pid = os.getpid()
        stat = _stat(pid)
        start = stat[2] if stat else 0
        folder = runs_root() / f"{pid}-{start}"
        (folder / "children").mkdir(parents=True, exist_ok=True)
        (folder / "tmp").mkdir(exist_ok=True)
        record = {"pid": pid, "start": start, "boot_id": _boot_id(), "host": socket.gethostname(), "argv": sys.argv[:4],
                  "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        staging = folder / "run.json.tmp"
        staging.write_text(json.dumps(record))
        staging.replace(folder / "run.json")
        read_fd, write_fd = os.pipe()  # both close-on-exec: only the fd passed to a launcher is inherited
        first = _run is None
        _run = _Run(pid, folder, read_fd, write_fd)
        _children.clear()
        if first:
            atexit.register(_finish)
        return _run


def spawn(args: Sequence[str], *, cwd: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None,
          stdin: File = None, stdout: File = None, stderr: File = None,
          pass_fds: Sequence[int] = ()) -> subprocess.Popen[bytes]:
    """Start args as a child that dies with the sandbox (see the module docstring); return its Popen.

    The child leads its own process group: stop it with os.killpg(proc.pid, sig) to reach what it
    started. Its pid, exit status and pipes are the command's own (the launcher execs it). A
    command that cannot be run exits with status 127 and says why on stderr, instead of raising.
    """
    run = _current_run()
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", str(LAUNCHER), str(run.watch_read), "--", *map(str, args)],
        cwd=cwd, env=env, stdin=stdin, stdout=stdout, stderr=stderr,
        pass_fds=(run.watch_read, *pass_fds), start_new_session=True)
    stat = _stat(proc.pid)
    record = run.folder / "children" / str(proc.pid)
    try:
        record.write_text(json.dumps({"pid": proc.pid, "start": stat[2] if stat else 0, "argv": list(args)[:4]}))
    except OSError:  # the record is a second line of defence; the watcher is the first
        log.warning("could not record sandbox child %s in %s", proc.pid, record)
    with _lock:
        _prune()
        _children[proc.pid] = (proc, record)
    return proc


def _prune() -> None:
    """Forget the records of children that ended and were waited for (called with _lock held)."""
    for pid, (proc, record) in list(_children.items()):
        if proc.returncode is not None:
            record.unlink(missing_ok=True)
            del _children[pid]


def temp_dir(prefix: str) -> Path:
    """Return a new temp folder (name starts with prefix) that the next sandbox start removes if this one dies."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=_current_run().folder / "tmp"))


def _finish() -> None:
    """At exit: kill what is still running and remove this process's run folder."""
    with _lock:
        run = _run
        children = list(_children.values())
        _children.clear()
    if run is None or run.pid != os.getpid():
        return
    for proc, _ in children:
        if proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    shutil.rmtree(run.folder, ignore_errors=True)


# --- leftovers of sandboxes that died ----------------------------------------------------------

def _owner_gone(folder: Path, boot_id: str) -> bool:
    try:
        record = json.loads((folder / "run.json").read_text())
        pid, start = int(record["pid"]), int(record["start"])
    except (OSError, ValueError, KeyError, TypeError):
        try:
            return time.time() - folder.stat().st_mtime > INCOMPLETE_RUN_GRACE_S
        except OSError:
            return False
    if record.get("host", socket.gethostname()) != socket.gethostname():
        return False  # a data dir shared between machines: that run is not this machine's to judge
    if record.get("boot_id") != boot_id:
        return True  # recorded before a reboot: nothing of it runs
    return not _alive(pid, start)


def clean_leftovers() -> None:
    """Kill the recorded children of sandboxes that died and remove their run and temp folders."""
    root = runs_root()
    if not root.is_dir():
        return
    boot_id = _boot_id()
    own = _run.folder if _run is not None and _run.pid == os.getpid() else None
    for folder in sorted(root.iterdir()):
        if folder == own or not folder.is_dir() or not _owner_gone(folder, boot_id):
            continue
        killed = 0
        same_boot = _recorded_boot(folder) == boot_id
        for record in sorted((folder / "children").glob("*")) if same_boot else ():
            try:
                child = json.loads(record.read_text())
                killed += _kill_recorded(int(child["pid"]), int(child["start"]))
            except (OSError, ValueError, KeyError, TypeError):
                continue
        shutil.rmtree(folder, ignore_errors=True)
        log.info("cleaned what a previous sandbox left (%s): %d process group(s) killed, folder removed",
                 folder.name, killed)


def _recorded_boot(folder: Path) -> str | None:
    try:
        return json.loads((folder / "run.json").read_text()).get("boot_id")
    except (OSError, ValueError, AttributeError):
        return None
