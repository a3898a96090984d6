"""Runs one command of the sandbox so that it dies with the sandbox: `python -I -S child_launcher.py FD -- CMD…`.

Stdlib only, and nothing from the project (it runs before the command, in a bare interpreter).
children.spawn() starts it as the leader of a new process group, with FD the read end of a pipe
whose write end only the sandbox holds. It forks a watcher, then execs CMD in its own place (so
the pid, exit status and pipes the sandbox sees are the command's own). The watcher stays in the
group and kills the whole group (the command and anything it started) with SIGKILL when either

- FD reads EOF: the sandbox is gone, however it died (the kernel closes its end, even on kill -9);
- the command ends: what it left running goes with it, as a container's processes do.
"""
import os
import select
import signal
import sys

POLL_S = 0.25  # how soon the watcher notices that the command ended (the pipe's EOF is immediate)


def _watch(fd: int, leader: int) -> None:
    # The watcher holds none of the command's files: a pipe the sandbox reads must see EOF when
    # the command ends, not when the watcher does.
    null = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(null, target)
    for name in os.listdir("/proc/self/fd"):
        other = int(name)
        if other > 2 and other != fd:
            try:
                os.close(other)
            except OSError:
                pass
    # A graceful stop (SIGTERM to the group) is for the command; the watcher waits for its end.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    while True:
        ready, _, _ = select.select([fd], [], [], POLL_S)
        if ready and not os.read(fd, 1):
            break  # the sandbox is gone
        if os.getppid() != leader:
            break  # the command ended (the watcher was handed to another parent)
    os.killpg(0, signal.SIGKILL)


def main(argv: list[str]) -> None:
    if len(argv) < 4 or argv[2] != "--":
        sys.stderr.write("usage: child_launcher.py FD -- CMD [ARG…]\n")
        os._exit(2)
    fd, command = int(argv[1]), argv[3:]
    leader = os.getpid()
    if os.fork() == 0:
        try:
            _watch(fd, leader)
        finally:
            os._exit(0)
    os.close(fd)
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        sys.stderr.write(f"sandbox: cannot run {command[0]}: {exc}\n")
        os._exit(127)


if __name__ == "__main__":
    main(sys.argv)
