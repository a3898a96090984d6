"""A small HTTP client for the income API an instance serves (/health, /predict, /predict/batch).

It knows URLs, not instances: where the API answers is resolved by the exercise (state.endpoint_of).
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from ...errors import LabError
from ...i18n import _
from ...prediction import Prediction
from .bundle import APP_PORT

HTTP_TIMEOUT_S = 5.0
HEALTH_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class ApiCall:
    """One HTTP call to the API: where, the status, the JSON answer and how long it took."""

    url: str
    status: int
    body: Any
    latency_ms: float


def _http(method: str, url: str, payload: Any = None, timeout: float = HTTP_TIMEOUT_S) -> ApiCall:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:  # 4xx/5xx: an answer, not a failure to connect
        status, raw = err.code, err.read()
    latency = (time.perf_counter() - started) * 1000
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode("utf-8", errors="replace")
    return ApiCall(url, status, body, latency)


def unreachable(url: str, exc: BaseException) -> LabError:
    """The error for an API that does not answer at all (refused, reset, timed out); `reason` says why, briefly."""
    reason = getattr(exc, "reason", exc)
    error = LabError(_("The API at {url} does not answer ({reason}). Is the instance running, has its start-up "
                       "finished, and does its security group open port {port} to your address?").format(
                           url=url, reason=reason, port=APP_PORT), "ApiUnreachable")
    error.reason = str(reason)  # what a progress line shows while waiting
    return error


def _call(method: str, url: str, payload: Any = None, timeout: float = HTTP_TIMEOUT_S) -> ApiCall:
    try:
        return _http(method, url, payload, timeout)
    except OSError as exc:  # URLError, ConnectionResetError, socket.timeout
        raise unreachable(url, exc) from exc


def get_health(base: str) -> ApiCall:
    """GET base/health (LabError ApiUnreachable if nothing answers)."""
    return _call("GET", base + "/health", timeout=HEALTH_TIMEOUT_S)


def post_predict(base: str, record: dict[str, Any]) -> ApiCall:
    """POST one record to base/predict; return the answer (a 422 included) and its latency."""
    return _call("POST", base + "/predict", record)


def predictions(base: str, records: list[dict[str, Any]]) -> list[Prediction]:
    """Return the API's predictions for records (/predict for one, /predict/batch for more)."""
    one = len(records) == 1
    url = base + ("/predict" if one else "/predict/batch")
    call = _call("POST", url, records[0] if one else {"records": records},
                 timeout=max(HTTP_TIMEOUT_S, len(records) / 100))
    if call.status != 200:
        raise LabError(_("The API answered {status}: {body}").format(status=call.status,
                                                                     body=json.dumps(call.body)[:500]), "ApiError")
    answers = [call.body] if one else call.body
    return [Prediction(a["label"], float(a["probability"])) for a in answers]
