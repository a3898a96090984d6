"""Exercise 4's checks: pure functions of its State (live, or built from the class listings)."""
from __future__ import annotations

import ipaddress

from ... import ec2, i18n
from ...i18n import N_, _
from ...lab import UNSEEN, Check, CheckResult, unseen
from .api_client import ApiCall
from .state import SUPPORTED_UBUNTU, WORLD, State
from .bundle import APP_PORT, SSH_PORT


def key_pair(state: State) -> CheckResult:
    title = _("Key pair, private key readable by you only")
    name = state.names.key_pair
    if state.key_pair is None:
        return CheckResult("key_pair", title, False, _("No key pair {name}.").format(name=name),
                           _("Create it (step 1)."))
    if state.key_file is UNSEEN:
        return CheckResult("key_pair", title, None, _("Key pair {name} exists; its private key file is on the "
                                                       "student's machine (drill-down).").format(name=name))
    if state.key_file is None:
        return CheckResult("key_pair", title, False,
                           _("The private key {name}.pem is missing from this machine.").format(name=name),
                           _("AWS shows a private key only once: recreate the key pair (tick 'Recreate the key "
                             "pair')."))
    path, mode = state.key_file.path, state.key_file.mode
    if mode & 0o077:
        return CheckResult("key_pair", title, False,
                           _("{file} has mode {mode}.").format(file=path.name, mode=f"{mode:03o}"),
                           _("Run `chmod 400 {path}`: ssh refuses a private key that others can read.").format(
                               path=path))
    return CheckResult("key_pair", title, True, _("{name}, private key {file} with mode {mode}.").format(
        name=name, file=path.name, mode=f"{mode:03o}"))


def instance(state: State) -> CheckResult:
    title = _("Instance running Ubuntu LTS")
    current = state.instance
    if current is None:
        return CheckResult("instance", title, False,
                           _("No instance {name}.").format(name=state.names.instance_name), _("Launch it (step 4)."))
    if current.state != "running":
        return CheckResult("instance", title, False,
                           _("{id} is {state}.").format(id=current.id, state=ec2.state_word(current.state)),
                           _("Start it (step 4 or Start below)."))
    if state.image is UNSEEN:
        return CheckResult("instance", title, None, _("{id} ({type}) is running; its image is checked in the "
                                                       "drill-down.").format(id=current.id, type=current.type))
    image = state.image
    if image is not None and image.ubuntu is None:
        return CheckResult("instance", title, False,
                           _("{id} runs {image}, not Ubuntu.").format(id=current.id, image=image.name),
                           _("The lab's start-up script and commands are for Ubuntu 24.04 LTS (apt, user ubuntu)."))
    if image is not None and image.ubuntu not in SUPPORTED_UBUNTU:
        return CheckResult("instance", title, False,
                           _("{id} runs Ubuntu {version}.").format(id=current.id, version=image.ubuntu),
                           _("Ubuntu {version} is end of life (the handout's 20.04 included): no more security "
                             "updates. Terminate it and launch from the current 24.04 AMI (step 4 looks it "
                             "up).").format(version=image.ubuntu))
    if image is not None:
        return CheckResult("instance", title, True, _("{id} ({type}, Ubuntu {version}) is running.").format(
            id=current.id, type=current.type, version=image.ubuntu))
    return CheckResult("instance", title, True, _("{id} ({type}, image {image}) is running.").format(
        id=current.id, type=current.type, image=current.image_id))


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
    title = _("Port {app} open to you, SSH not open to the internet").format(app=APP_PORT)
    if state.instance is not None:
        if state.instance_groups is UNSEEN:
            return unseen("ports", title)
        groups = state.instance_groups
    else:
        groups = (state.group,) if state.group is not None else ()
    if not groups:
        return CheckResult("ports", title, False,
                           _("No security group {name}.").format(name=state.names.security_group),
                           _("Create it (step 2)."))
    rules = frozenset().union(*(g.rules for g in groups))
    mine = state.caller_cidr
    if allows(rules, SSH_PORT, WORLD):
        where = mine if isinstance(mine, str) else _("your address /32")
        return CheckResult("ports", title, False,
                           _("SSH ({ssh}) is open to {world}, the whole internet.").format(ssh=SSH_PORT, world=WORLD),
                           _("Allow SSH from your address only ({where}): bots try passwords and keys on every open "
                             "port {ssh} within minutes. Step 2 replaces the rule.").format(where=where, ssh=SSH_PORT),
                           broken=True)
    if not any(r.port in (APP_PORT, -1) for r in rules):
        return CheckResult("ports", title, False, _("Port {app} is closed to everyone.").format(app=APP_PORT),
                           _("Add an inbound rule TCP {app} from your address (step 2), or open it to a class "
                             "with the option.").format(app=APP_PORT))
    if allows(rules, APP_PORT, WORLD):
        return CheckResult("ports", title, True,
                           _("{app} open to everyone (class option); SSH limited.").format(app=APP_PORT))
    if mine is UNSEEN:
        opened = ", ".join(sorted(r.cidr for r in rules if r.port in (APP_PORT, -1)))
        return CheckResult("ports", title, None, _("{app} open to {opened}; SSH limited. Whether that is the "
                                                    "student's address shows in the drill-down.").format(
                                                        app=APP_PORT, opened=opened))
    if mine is None:
        return CheckResult("ports", title, False, state.caller_problem,
                           _("Set your address with the option ssh_cidr (e.g. 203.0.113.7/32)."))
    if not allows(rules, APP_PORT, mine):
        return CheckResult("ports", title, False,
                           _("Port {app} is closed to your address {mine}.").format(app=APP_PORT, mine=mine),
                           _("Add an inbound rule TCP {app} from {mine} (step 2), or open it to a class "
                             "with the option.").format(app=APP_PORT, mine=mine))
    return CheckResult("ports", title, True, _("{app} open to {mine}; SSH limited.").format(app=APP_PORT, mine=mine))


def _no_api(check_id: str, title: str, state: State) -> CheckResult | None:
    """The result when the API cannot be asked: no running instance, or the snapshot cannot see it."""
    current = state.instance
    if current is None or current.state != "running":
        what = (_("No running instance {name}.").format(name=state.names.instance_name) if current is None
                else _("{id} is {state}.").format(id=current.id, state=ec2.state_word(current.state)))
        return CheckResult(check_id, title, False, what, _("Launch it (step 4), or start it."))
    if state.health is UNSEEN:
        return unseen(check_id, title)
    if state.endpoint is None:
        return CheckResult(check_id, title, False, _("{id} has no public address yet.").format(id=current.id),
                           _("Wait a minute and check again; an instance in a subnet without public IPs cannot be "
                             "reached."))
    return None


def health(state: State) -> CheckResult:
    title = _("The API answers /health")
    early = _no_api("health", title, state)
    if early is not None:
        return early
    call = state.health
    if not isinstance(call, ApiCall):
        return CheckResult("health", title, False, str(call),
                           _("Wait a few minutes after launch (Docker install and image build), then read the "
                             "console output below for errors."))
    if call.status != 200:
        return CheckResult("health", title, False, _("/health answered {status}.").format(status=call.status),
                           _("Read the console output."))
    return CheckResult("health", title, True, _("{url} answered in {ms} ms.").format(
        url=call.url, ms=i18n.number(call.latency_ms, 0)))


def prediction(state: State) -> CheckResult:
    title = _("A prediction for the sample record")
    early = _no_api("prediction", title, state)
    if early is not None:
        return early
    call = state.prediction
    if not isinstance(call, ApiCall):
        return CheckResult("prediction", title, False, str(call), _("Get /health answering first."))
    if call.status != 200 or not isinstance(call.body, dict) or "label" not in call.body:
        return CheckResult("prediction", title, False,
                           _("/predict answered {status}: {body}").format(status=call.status, body=str(call.body)[:200]),
                           _("The sample record must use Adult categories (Married-civ-spouse, Prof-specialty), "
                             "not the handout's Married/Professional."))
    return CheckResult("prediction", title, True, _("{label} (p={probability}) in {ms} ms.").format(
        label=call.body["label"], probability=i18n.number(call.body["probability"], 2),
        ms=i18n.number(call.latency_ms, 0)))


CHECKS = (Check("key_pair", N_("Key pair"), key_pair), Check("instance", N_("Instance"), instance),
          Check("ports", N_("Security group"), ports), Check("health", N_("Health"), health),
          Check("prediction", N_("Prediction"), prediction))
