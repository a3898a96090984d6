"""Exercise 1's checks: pure functions of its State."""
from __future__ import annotations

from ...lab import UNSEEN, Check, CheckResult, unseen
from .state import State


def identity(state: State) -> CheckResult:
    title = "Credentials are valid"
    if state.identity is UNSEEN:
        return unseen("identity", title)
    if state.identity is None:
        return CheckResult("identity", title, True, "Has created lab resources with them.")
    return CheckResult("identity", title, True, f"Signed in as {state.identity.arn} (account {state.identity.account}).")


def region(state: State) -> CheckResult:
    title = "A region is configured"
    if state.known_regions is UNSEEN:
        return unseen("region", title)
    ok = state.region in state.known_regions
    return CheckResult("region", title, ok, f"Region: {state.region}.",
                       "" if ok else f"{state.region!r} is not an AWS region: the lab uses eu-central-1.")


CHECKS = (Check("identity", "Credentials are valid", identity), Check("region", "A region is configured", region))
