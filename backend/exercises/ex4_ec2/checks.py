"""Exercise 4's checks: pure functions of its State (live, or built from the class listings)."""
from __future__ import annotations

import ipaddress

from ... import ec2
from ...lab import UNSEEN, Check, CheckResult, unseen
from .api_client import ApiCall
from .state import SUPPORTED_UBUNTU, WORLD, State
from .bundle import APP_PORT, SSH_PORT


def key_pair(state: State) -> CheckResult:
    title = "Key pair, private key readable by you only"
    name = state.names.key_pair
    if state.key_pair is None:
        return CheckResult("key_pair", title, False, f"No key pair {name}.", "Create it (step 1).")
    if state.key_file is UNSEEN:
        return CheckResult("key_pair", title, None, f"Key pair {name} exists; its private key file is on the "
                           "student's machine (drill-down).")
    if state.key_file is None:
        return CheckResult("key_pair", title, False, f"The private key {name}.pem is missing from this machine.",
                           "AWS shows a private key only once: recreate the key pair (tick 'Recreate the key pair').")
    path, mode = state.key_file.path, state.key_file.mode
    if mode & 0o077:
        return CheckResult("key_pair", title, False, f"{path.name} has mode {mode:03o}.",
                           f"Run `chmod 400 {path}`: ssh refuses a private key that others can read.")
    return CheckResult("key_pair", title, True, f"{name}, private key {path.name} with mode {mode:03o}.")


def instance(state: State) -> CheckResult:
    title = "Instance running Ubuntu LTS"
    current = state.instance
    if current is None:
        return CheckResult("instance", title, False, f"No instance {state.names.instance_name}.", "Launch it (step 4).")
    if current.state != "running":
        return CheckResult("instance", title, False, f"{current.id} is {current.state}.",
                           "Start it (step 4 or Start below).")
    if state.image is UNSEEN:
        return CheckResult("instance", title, None, f"{current.id} ({current.type}) is running; its image is "
                           "checked in the drill-down.")
    image = state.image
    if image is not None and image.ubuntu is None:
        return CheckResult("instance", title, False, f"{current.id} runs {image.name}, not Ubuntu.",
                           "The lab's start-up script and commands are for Ubuntu 24.04 LTS (apt, user ubuntu).")
    if image is not None and image.ubuntu not in SUPPORTED_UBUNTU:
        return CheckResult("instance", title, False, f"{current.id} runs Ubuntu {image.ubuntu}.",
                           f"Ubuntu {image.ubuntu} is end of life (the handout's 20.04 included): no more security "
                           "updates. Terminate it and launch from the current 24.04 AMI (step 4 looks it up).")
    seen = f"Ubuntu {image.ubuntu}" if image is not None else f"image {current.image_id}"
    return CheckResult("instance", title, True, f"{current.id} ({current.type}, {seen}) is running.")


def allows(rules: frozenset[ec2.IngressRule], port: int, cidr: str) -> bool:
    """True if some rule lets `cidr` (all of it) reach TCP `port`."""
    network = ipaddress.ip_network(cidr, strict=False)
    for rule in rules:
        if rule.port in (port, -1):
            try:
                if network.subnet_of(ipaddress.ip_network(rule.cidr, strict=False)):
                    return True
            except (TypeError, ValueError):  # IPv4 against IPv6, or a malformed range
                continue
    return False


def ports(state: State) -> CheckResult:
    title = f"Port {APP_PORT} open to you, SSH not open to the internet"
    if state.instance is not None:
        if state.instance_groups is UNSEEN:
            return unseen("ports", title)
        groups = state.instance_groups
    else:
        groups = (state.group,) if state.group is not None else ()
    if not groups:
        return CheckResult("ports", title, False, f"No security group {state.names.security_group}.", "Create it (step 2).")
    rules = frozenset().union(*(g.rules for g in groups))
    mine = state.caller_cidr
    if allows(rules, SSH_PORT, WORLD):
        where = mine if isinstance(mine, str) else "your address /32"
        return CheckResult("ports", title, False, f"SSH ({SSH_PORT}) is open to {WORLD}, the whole internet.",
                           f"Allow SSH from your address only ({where}): bots try passwords and keys on every open "
                           f"port {SSH_PORT} within minutes. Step 2 replaces the rule.", broken=True)
    if not any(r.port in (APP_PORT, -1) for r in rules):
        return CheckResult("ports", title, False, f"Port {APP_PORT} is closed to everyone.",
                           f"Add an inbound rule TCP {APP_PORT} from your address (step 2), or open it to a class "
                           "with the option.")
    if allows(rules, APP_PORT, WORLD):
        return CheckResult("ports", title, True, f"{APP_PORT} open to everyone (class option); SSH limited.")
    if mine is UNSEEN:
        opened = ", ".join(sorted(r.cidr for r in rules if r.port in (APP_PORT, -1)))
        return CheckResult("ports", title, None, f"{APP_PORT} open to {opened}; SSH limited. Whether that is the "
                           "student's address shows in the drill-down.")
    if mine is None:
        return CheckResult("ports", title, False, state.caller_problem,
                           "Set your address with the option ssh_cidr (e.g. 203.0.113.7/32).")
    if not allows(rules, APP_PORT, mine):
        return CheckResult("ports", title, False, f"Port {APP_PORT} is closed to your address {mine}.",
                           f"Add an inbound rule TCP {APP_PORT} from {mine} (step 2), or open it to a class "
                           "with the option.")
    return CheckResult("ports", title, True, f"{APP_PORT} open to {mine}; SSH limited.")


def _no_api(check_id: str, title: str, state: State) -> CheckResult | None:
    """The result when the API cannot be asked: no running instance, or the snapshot cannot see it."""
    current = state.instance
    if current is None or current.state != "running":
        what = f"No running instance {state.names.instance_name}." if current is None else f"{current.id} is {current.state}."
        return CheckResult(check_id, title, False, what, "Launch it (step 4), or start it.")
    if state.health is UNSEEN:
        return unseen(check_id, title)
    if state.endpoint is None:
        return CheckResult(check_id, title, False, f"{current.id} has no public address yet.",
                           "Wait a minute and check again; an instance in a subnet without public IPs cannot be reached.")
    return None


def health(state: State) -> CheckResult:
    title = "The API answers /health"
    early = _no_api("health", title, state)
    if early is not None:
        return early
    call = state.health
    if not isinstance(call, ApiCall):
        return CheckResult("health", title, False, str(call),
                           "Wait a few minutes after launch (Docker install and image build), then read the "
                           "console output below for errors.")
    if call.status != 200:
        return CheckResult("health", title, False, f"/health answered {call.status}.", "Read the console output.")
    return CheckResult("health", title, True, f"{call.url} answered in {call.latency_ms:.0f} ms.")


def prediction(state: State) -> CheckResult:
    title = "A prediction for the sample record"
    early = _no_api("prediction", title, state)
    if early is not None:
        return early
    call = state.prediction
    if not isinstance(call, ApiCall):
        return CheckResult("prediction", title, False, str(call), "Get /health answering first.")
    if call.status != 200 or not isinstance(call.body, dict) or "label" not in call.body:
        return CheckResult("prediction", title, False, f"/predict answered {call.status}: {str(call.body)[:200]}",
                           "The sample record must use Adult categories (Married-civ-spouse, Prof-specialty), "
                           "not the handout's Married/Professional.")
    return CheckResult("prediction", title, True, f"{call.body['label']} (p={call.body['probability']:.2f}) in "
                       f"{call.latency_ms:.0f} ms.")


CHECKS = (Check("key_pair", "Key pair", key_pair), Check("instance", "Instance", instance),
          Check("ports", "Security group", ports), Check("health", "Health", health),
          Check("prediction", "Prediction", prediction))
