"""The lab's instance: launching it once however many runs race, starting/stopping it, and asking its API.

Two runs at the same moment (two tabs, the CLI and a page, two machines) must leave one instance:
- on one machine a lock file in the student's folder lets one launch at a time;
- everywhere, run_instances carries a ClientToken derived from the student and a generation, so
  AWS itself launches at most one instance per token. A token stays bound to its instance for a
  day after that instance is terminated, so the generation moves on past every token whose
  instance is gone.
"""
from __future__ import annotations

import contextlib
import threading
import time
from typing import Any, Callable, Iterator

from botocore.exceptions import ClientError

from ... import ec2, i18n, prices
from ...errors import LabError, error_code
from ...i18n import _
from ...lab import LabContext, Progress, StepResult, no_progress
from ...ownership import claim
from ...prediction import Prediction
from . import api_client
from . import state as st
from .api_client import ApiCall

try:
    import fcntl
except ImportError:  # Windows: the lock holds between the threads of one process only
    fcntl = None  # type: ignore[assignment]

GONE_STATES = ("shutting-down", "terminated")
MAX_GENERATIONS = 50
# After IdempotentParameterMismatch, how long a concurrent run's instance may take to show up in
# DescribeInstances (eventually consistent on AWS; at once in the sandbox).
TOKEN_WAIT_S = {"aws": 15.0, "sandbox": 1.0}
TOKEN_POLL_S = 1.0
# On AWS an instance boots, installs Docker and builds the image in 3-6 minutes; the sandbox in seconds.
HEALTH_BUDGET_S = {"aws": 600.0, "sandbox": 90.0}
HEALTH_INTERVAL_S = {"aws": 10.0, "sandbox": 0.5}


def _kind(ctx: LabContext) -> str:
    return "sandbox" if ctx.aws.target.is_sandbox else "aws"


def waiter_delay(ctx: LabContext) -> float:
    return 1 if ctx.aws.target.is_sandbox else 5


# ---- price ------------------------------------------------------------------------------------

def price_per_hour(region: str, itype: str) -> float | None:
    """Return the on-demand USD price per hour of an instance type (None if not in the table)."""
    return prices.hourly_price(region, itype)


def price_note(ctx: LabContext) -> str:
    """Return a sentence with the chosen instance type's hourly price (or where to look it up)."""
    itype = st.INSTANCE_TYPE.get(ctx)
    price = price_per_hour(ctx.region, itype)
    if price is None:
        return _("{type} in {region}: see aws.amazon.com/ec2/pricing/on-demand for the hourly price (not in this "
                 "lab's table of {as_of}).").format(type=itype, region=ctx.region, as_of=prices.PRICES_AS_OF)
    return _("{type} in {region} costs about {price} per hour while it runs (on-demand Linux, {as_of}).").format(
        type=itype, region=ctx.region, price=i18n.money(price, "USD", 4), as_of=prices.PRICES_AS_OF)


# ---- launching once ---------------------------------------------------------------------------

_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


@contextlib.contextmanager
def launch_lock(ctx: LabContext, on_progress: Progress = no_progress) -> Iterator[None]:
    """Hold the student's launch lock on this machine (a lock file: processes and threads alike)."""
    path = ctx.workdir / ".ex4-instance.lock"
    if fcntl is None:
        with _thread_locks_guard:
            lock = _thread_locks.setdefault(str(path), threading.Lock())
        with lock:
            yield
        return
    with open(path, "a") as handle:  # each open() is its own lock holder, even within one process
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_progress(_("Another run for {svc} is launching or starting the instance: waiting for it…").format(
                svc=ctx.svc))
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def client_token(svc: str, generation: int) -> str:
    """Return the ClientToken of a student's launch number `generation` (AWS allows 64 ASCII characters)."""
    return f"{svc}-ex4-{generation}"


def token_generation(svc: str, token: str | None) -> int | None:
    """Return the generation a client token of this student encodes, or None if it is not one."""
    prefix = f"{svc}-ex4-"
    if not token or not token.startswith(prefix) or not token[len(prefix):].isdigit():
        return None
    return int(token[len(prefix):])


def first_generation(ctx: LabContext) -> int:
    """Return the first generation worth trying: past every visible terminated instance's token.

    Concurrent runs see the same instances, so they pick the same token.
    """
    used = [token_generation(ctx.svc, i.client_token) for i in st.lab_instances(ctx, GONE_STATES)]
    used = [g for g in used if g is not None]
    return max(used) + 1 if used else 0


def _instance_with_token(ctx: LabContext, token: str, sleep: Callable[[float], None]) -> dict[str, Any] | None:
    """Return the instance launched with `token` (any state), waiting a little for DescribeInstances to show it."""
    attempts = max(1, int(TOKEN_WAIT_S[_kind(ctx)] / TOKEN_POLL_S))
    for attempt in range(attempts):
        for raw in ec2.find_instances(ctx.aws, [{"Name": "key-name", "Values": [ctx.names.key_pair]}],
                                      ec2.LIVE_STATES + GONE_STATES):
            if raw.get("ClientToken") == token:
                return raw
        if attempt < attempts - 1:
            sleep(TOKEN_POLL_S)
    return None


def launch(ctx: LabContext, *, sleep: Callable[[float], None] = time.sleep, **params: Any) -> dict[str, Any]:
    """Launch the lab's instance once: return the live instance of the first generation whose token is unspent.

    `params` are ec2.run_instance's. A token that returns a terminated instance (or whose parameters
    differ and whose instance is gone) is spent: the next generation is tried.
    """
    start = first_generation(ctx)
    for generation in range(start, start + MAX_GENERATIONS):
        token = client_token(ctx.svc, generation)
        try:
            raw: dict[str, Any] | None = ec2.run_instance(ctx.aws, client_token=token, **params)
        except ClientError as err:
            if error_code(err) != "IdempotentParameterMismatch":
                raise
            # Same token, other parameters (a presigned URL signed a second later): either a run at
            # this very moment launched it, or it is an old launch's token.
            raw = _instance_with_token(ctx, token, sleep)
        if raw is not None and raw["State"]["Name"] in ec2.LIVE_STATES:
            return raw
    raise LabError(_("Could not launch: the last {count} launch tokens of {svc} were all spent on instances since "
                     "terminated. Try again tomorrow, or choose another service name.").format(
                         count=MAX_GENERATIONS, svc=ctx.svc), "TokensSpent")


# ---- the instance's life ----------------------------------------------------------------------

def lab_instance(ctx: LabContext) -> st.Instance | None:
    """Return the lab's instance (a running one first), or None."""
    instances = st.lab_instances(ctx)
    return instances[0] if instances else None


def _require_instance(ctx: LabContext) -> st.Instance:
    instance = lab_instance(ctx)
    if instance is None:
        raise LabError(_("There is no instance {name}: launch it (step 4).").format(name=ctx.names.instance_name),
                       "NoInstance")
    claim(ctx.svc, instance.seen)  # never stop or start another student's instance
    return instance


def stop_lab_instance(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    """Stop the lab's instance (no compute billed; its disk stays and is billed); wait until stopped."""
    instance = _require_instance(ctx)
    if instance.state == "stopped":
        return StepResult("stop", False, _("{id} is already stopped.").format(id=instance.id))
    ec2.stop_instance(ctx.aws, instance.id)
    ec2.wait_for_instance_stopped(ctx.aws, instance.id, on_progress, delay=waiter_delay(ctx))
    return StepResult("stop", True, _("Stopped {id}: no more compute charges, its disk is kept (a few cents a "
                                      "month).").format(id=instance.id))


def start_lab_instance(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    """Start the lab's stopped instance and wait until it runs (the container restarts by itself)."""
    from .steps import run_instance

    return run_instance(ctx, on_progress)


def terminate_lab_instance(ctx: LabContext, on_progress: Progress = no_progress) -> StepResult:
    """Terminate the lab's instances (never another student's: NotYours) and wait until they are gone."""
    instances = st.lab_instances(ctx)
    for instance in instances:
        claim(ctx.svc, instance.seen)
    for instance in instances:
        ec2.terminate_instance(ctx.aws, instance.id)
    for instance in instances:
        ec2.wait_for_instance_terminated(ctx.aws, instance.id, on_progress, delay=waiter_delay(ctx))
    ids = ", ".join(i.id for i in instances)
    return StepResult("terminate", bool(instances),
                      _("Terminated {ids}.").format(ids=ids) if instances else _("No instance to terminate."))


def instance_console(ctx: LabContext) -> str:
    """Return the lab instance's console output ('' if there is no instance or no output yet)."""
    instance = lab_instance(ctx)
    return ec2.console_output(ctx.aws, instance.id) if instance else ""


# ---- its API ----------------------------------------------------------------------------------

def instance_endpoint(ctx: LabContext) -> str | None:
    """Return the base URL where the lab's API answers (public IP:8000; the sandbox's local address), or None."""
    return st.endpoint_of(ctx, lab_instance(ctx))


def _require_endpoint(ctx: LabContext) -> str:
    endpoint = instance_endpoint(ctx)
    if endpoint is None:
        raise LabError(_("No running instance {name} with an address: launch it (step 4) or start it.").format(
            name=ctx.names.instance_name), "NoInstance")
    return endpoint


def health(ctx: LabContext) -> ApiCall:
    """GET the instance's /health (LabError if nothing answers)."""
    return api_client.get_health(_require_endpoint(ctx))


def call_predict(ctx: LabContext, record: dict[str, Any]) -> ApiCall:
    """POST one record to the instance's /predict; return the answer (a 422 included) and its latency."""
    return api_client.post_predict(_require_endpoint(ctx), record)


def predict(ctx: LabContext, records: list[dict[str, Any]]) -> list[Prediction]:
    """Return the instance's predictions for records (/predict for one, /predict/batch for more)."""
    return api_client.predictions(_require_endpoint(ctx), records)


def wait_for_health(ctx: LabContext, on_progress: Progress = no_progress, *,
                    sleep: Callable[[float], None] = time.sleep, attempts: int | None = None,
                    interval: float | None = None) -> ApiCall:
    """Poll /health until it answers 200 (bounded: attempts × interval); return that answer."""
    interval = HEALTH_INTERVAL_S[_kind(ctx)] if interval is None else interval
    attempts = int(HEALTH_BUDGET_S[_kind(ctx)] / interval) if attempts is None else attempts
    last = _("no instance address yet")
    for attempt in range(1, attempts + 1):
        try:
            call = health(ctx)
            if call.status == 200:
                on_progress(_("/health answered in {ms} ms: {body}").format(ms=i18n.number(call.latency_ms, 0),
                                                                             body=call.body))
                return call
            last = f"HTTP {call.status}"
        except LabError as err:
            last = getattr(err, "reason", None) or err.message
        if attempt == 1 or attempt % 6 == 0:
            on_progress(_("Waiting for the API to answer ({last}; {waited} of {budget} s)…").format(
                last=last, waited=i18n.number(attempt * interval, 0), budget=i18n.number(attempts * interval, 0)))
        sleep(interval)
    raise LabError(_("The API did not answer /health within {budget} s (last: {last}). Read the instance's console "
                     "output: the start-up script's errors are there.").format(
                         budget=i18n.number(attempts * interval, 0), last=last), "HealthTimeout")
