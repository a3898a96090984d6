"""Exercise 1's checks: pure functions of its State."""
from __future__ import annotations

from ...i18n import N_, _
from ...lab import UNSEEN, Check, CheckResult, unseen
from .state import State

IDENTITY = N_("Credentials are valid")
REGION = N_("A region is configured")


def identity(state: State) -> CheckResult:
    title = _(IDENTITY)
    if state.identity is UNSEEN:
        return unseen("identity", title)
    if state.identity is None:
        return CheckResult("identity", title, True, _("Has created lab resources with them."))
    return CheckResult("identity", title, True, _("Signed in as {arn} (account {account}).").format(
        arn=state.identity.arn, account=state.identity.account))


def region(state: State) -> CheckResult:
    title = _(REGION)
    if state.known_regions is UNSEEN:
        return unseen("region", title)
    ok = state.region in state.known_regions
    return CheckResult("region", title, ok, _("Region: {region}.").format(region=state.region),
                       "" if ok else _("{region} is not an AWS region: the lab uses eu-central-1.").format(
                           region=repr(state.region)))


CHECKS = (Check("identity", IDENTITY, identity), Check("region", REGION, region))
