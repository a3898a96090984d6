"""Run an exercise's shown snippets as a student would: in order, each a Python script, from the lab folder."""
from __future__ import annotations

import os
import subprocess
import sys

from backend.lab import Exercise, LabContext


def run_snippets(ctx: LabContext, exercise: Exercise, timeout: float = 300.0) -> list[str]:
    """Run every step's snippet in a fresh interpreter, cwd = the lab folder, env = the student's shell.

    Returns each snippet's stdout; a snippet that fails raises AssertionError with its stderr.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(ctx.aws.client_env())
    outputs = []
    for step in exercise.steps:
        code = step.code(ctx)
        assert code.startswith(ctx.folder_note()), f"{step.id}: the snippet does not say where to run it"
        done = subprocess.run([sys.executable, "-c", code], cwd=ctx.workdir, env=env, capture_output=True,
                              text=True, timeout=timeout)
        assert done.returncode == 0, f"snippet {exercise.number}/{step.id} failed:\n{code}\n---\n{done.stderr}"
        outputs.append(done.stdout)
    return outputs
