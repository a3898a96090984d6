#!/usr/bin/env bash
# Start the sandbox (unless one already answers) and the dashboard; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
SANDBOX_PORT="${SANDBOX_PORT:-4566}"
DASHBOARD_PORT="${DASHBOARD_PORT:-8501}"
export AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-http://127.0.0.1:${SANDBOX_PORT}}"
# The sandbox refuses requests from any web page but the dashboard's (README, "The sandbox").
export MLOPS_LAB_DASHBOARD_ORIGINS="${MLOPS_LAB_DASHBOARD_ORIGINS:-http://localhost:${DASHBOARD_PORT} http://127.0.0.1:${DASHBOARD_PORT}}"
PY=.venv/bin/python
mkdir -p build/logs

running() { "$PY" -c "import sys; from backend.sandbox import sandbox_is_running as up; sys.exit(0 if up('$AWS_ENDPOINT_URL') else 1)"; }

if running; then
  echo "Sandbox already running at $AWS_ENDPOINT_URL"
else
  # -v: the log says what the sandbox runs, with timestamps (backend/logconfig.py); Setup reads its tail
  "$PY" -m backend sandbox -v --port "$SANDBOX_PORT" >build/logs/sandbox.log 2>&1 &
  sandbox_pid=$!
  trap 'kill "$sandbox_pid" 2>/dev/null || true' EXIT INT TERM
  for _ in $(seq 1 120); do
    running && break
    kill -0 "$sandbox_pid" 2>/dev/null || { echo "The sandbox failed to start:"; tail -20 build/logs/sandbox.log; exit 1; }
    sleep 0.5
  done
  running || { echo "The sandbox did not answer in 60 s; see build/logs/sandbox.log"; exit 1; }
  echo "Sandbox ready at $AWS_ENDPOINT_URL (log: build/logs/sandbox.log)"
fi

# The sandbox answers only requests signed with its own key (made once, kept in the lab's data
# folder with mode 0600); this line gives the student's shell and the AWS CLI that key. It is a
# local key for this machine's sandbox, never a real AWS credential.
echo "Your shell and the AWS CLI reach the sandbox after:"
echo "  $("$PY" -c 'from backend.aws import Aws, Target; print(Aws(Target.sandbox()).shell_exports())')"
echo "Dashboard: http://localhost:${DASHBOARD_PORT} (log: build/logs/dashboard.log)"
.venv/bin/streamlit run dashboard.py --server.port "$DASHBOARD_PORT" --server.address 127.0.0.1
