"""The reliability suite's table (tests/reliability/summary.py), checked on a small run of its own."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from backend.config import PROJECT_ROOT

CASES = '''
import pytest

@pytest.mark.reliability("bad input")
def test_a_bad_input_case():
    pass

@pytest.mark.reliability("bad input")
@pytest.mark.parametrize("n", [1, 2])
def test_two_more(n):
    pass

@pytest.mark.reliability("faults")
def test_a_fault_case_that_fails():
    assert False

@pytest.mark.reliability("load")
def test_a_load_case_that_is_skipped():
    pytest.skip("no time")

def test_not_a_case():
    pass
'''


def run(tmp_path, cases: str, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    reliability(category): a case\n")
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["tests.reliability.summary"]\n')
    (tmp_path / "test_cases.py").write_text(textwrap.dedent(cases))
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--strict-markers", *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def table(output: str) -> dict[str, tuple[int, int]]:
    lines = output.split("reliability suite", 1)[1].splitlines()
    rows = {}
    for line in lines:
        parts = line.rsplit(None, 2)
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            rows[parts[0].strip()] = (int(parts[1]), int(parts[2]))
    return rows


def test_the_table_counts_cases_and_passes_per_category_and_names_the_others(tmp_path):
    result = run(tmp_path, CASES)
    assert result.returncode == 1, result.stdout + result.stderr
    assert table(result.stdout) == {"bad input": (3, 3), "faults": (1, 0), "load": (1, 0), "total": (5, 3)}
    assert "failed: test_cases.py::test_a_fault_case_that_fails" in result.stdout
    assert "skipped: test_cases.py::test_a_load_case_that_is_skipped" in result.stdout


def test_deselected_cases_are_not_counted_and_a_run_without_cases_prints_no_table(tmp_path):
    result = run(tmp_path, CASES, "-k", "two_more")
    assert table(result.stdout) == {"bad input": (2, 2), "faults": (0, 0), "load": (0, 0), "total": (2, 2)}
    result = run(tmp_path, CASES, "-k", "not_a_case")
    assert result.returncode == 0 and "reliability suite" not in result.stdout


def test_a_case_without_a_known_category_stops_the_run(tmp_path):
    result = run(tmp_path, 'import pytest\n\n@pytest.mark.reliability("speed")\ndef test_x():\n    pass\n')
    assert result.returncode == 4  # usage error
    assert "'bad input', 'faults', 'load'" in result.stdout + result.stderr and "'speed'" in result.stdout + result.stderr
