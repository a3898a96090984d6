"""Whose is a resource, from its tags or, untagged, from its name: the name rules are derived from LabNames.

Each LabNames property is formatted with a placeholder service name and turned into a regex, so a
name changed in LabNames changes what the class overview recognises too.
"""
from __future__ import annotations

import logging
import re
from functools import lru_cache

from ..i18n import N_
from ..names import TAG_COURSE, TAG_EXERCISE, TAG_STUDENT, InvalidServiceName, LabNames, validate_svc

log = logging.getLogger(__name__)

NO_STUDENT = N_("(no student tag)")  # a value (the student column's key): show it with _()
_PLACEHOLDER = "svcplaceholder0"  # a valid service name that appears in no lab name by itself
_SVC = r"(?P<svc>[a-z0-9][a-z0-9-]*?[a-z0-9])"  # lazy: "<endpoint>-config-<id>" keeps the id out of svc

# The kind of resource a LabNames property names, by its suffix (the property names say what they are).
_KIND_BY_SUFFIX = (("endpoint_config_prefix", "endpoint-config"), ("endpoint_model_prefix", "model"),
                   ("_log_group", "log-group"), ("bucket", "bucket"), ("_role", "role"), ("_policy", "policy"),
                   ("_function", "function"), ("_layer", "layer"), ("key_pair", "key-pair"),
                   ("security_group", "security-group"), ("instance_name", "instance"), ("endpoint", "endpoint"))
# Which exercise makes each name (untagged resources only: tagged ones carry lab:exercise).
EXERCISE_OF_NAME = {"data_bucket": 2, "model_bucket": 3, "input_bucket": 3, "output_bucket": 3,
                    "handout_input_bucket": 3, "handout_output_bucket": 3, "lambda_policy": 3, "lambda_role": 3,
                    "lambda_function": 3, "lambda_layer": 3, "lambda_log_group": 3,
                    "key_pair": 4, "security_group": 4, "instance_name": 4, "ec2_bundle_bucket": 4,
                    "endpoint": 5, "sagemaker_role": 5, "sagemaker_policy": 5, "sagemaker_bucket": 5,
                    "endpoint_config_prefix": 5, "endpoint_model_prefix": 5}
DEFAULT_EXERCISE = {"bucket": 2, "function": 3, "layer": 3, "role": 3, "policy": 3, "log-group": 3,
                    "instance": 4, "security-group": 4, "key-pair": 4, "endpoint": 5, "endpoint-config": 5,
                    "model": 5}
# A name property ending in "_prefix" is completed by whoever creates the resource (MLflow: an id).
_ID_SUFFIX = "[0-9a-z-]+"


def _kind(prop: str) -> str | None:
    return next((kind for suffix, kind in _KIND_BY_SUFFIX if prop.endswith(suffix)), None)


def lab_templates() -> list[tuple[str, str, int, bool]]:
    """Return (kind, name with '{svc}', exercise, is a prefix) for every resource name LabNames defines."""
    names = LabNames(_PLACEHOLDER)
    out = []
    for prop, value in vars(LabNames).items():
        if not isinstance(value, property):
            continue
        kind, text = _kind(prop), getattr(names, prop)
        if kind is None or not isinstance(text, str) or text.count(_PLACEHOLDER) != 1:
            continue
        exercise = EXERCISE_OF_NAME.get(prop)
        if exercise is None:
            log.debug("LabNames.%s is not in EXERCISE_OF_NAME: exercise %s assumed", prop, DEFAULT_EXERCISE[kind])
            exercise = DEFAULT_EXERCISE[kind]
        out.append((kind, text.replace(_PLACEHOLDER, "{svc}"), exercise, prop.endswith("_prefix")))
    return out


def _regex(template: str, suffix: str = "") -> re.Pattern[str]:
    before, _, after = template.partition("{svc}")
    return re.compile(f"^{re.escape(before)}{_SVC}{re.escape(after)}{suffix}$")


@lru_cache(maxsize=1)
def name_rules() -> dict[str, list[tuple[re.Pattern[str], int]]]:
    """Return kind -> [(pattern with a `svc` group, exercise)], most specific (longest fixed text) first."""
    templates = lab_templates()
    # A config or model made by hand may carry the endpoint's own name.
    templates += [(kind, t, n, False) for k, t, n, _ in lab_templates() if k == "endpoint"
                  for kind in ("endpoint-config", "model")]
    rules: dict[str, list[tuple[int, re.Pattern[str], int]]] = {}
    for kind, template, exercise, prefix in templates:
        rules.setdefault(kind, []).append((len(template), _regex(template, _ID_SUFFIX if prefix else ""), exercise))
    return {kind: [(p, n) for _, p, n in sorted(found, key=lambda r: -r[0])] for kind, found in rules.items()}


def name_prefix(prop: str) -> str:
    """Return the fixed text before the service name in a LabNames name (a listing's prefix filter)."""
    return getattr(LabNames(_PLACEHOLDER), prop).partition(_PLACEHOLDER)[0]


def _valid_svc(svc: str) -> bool:
    try:
        validate_svc(svc)
    except InvalidServiceName:
        return False
    return True


def svc_from_name(kind: str, name: str) -> tuple[str, int] | None:
    """Return (service name, exercise) a lab name belongs to, or None if it is no lab name of that kind."""
    for pattern, exercise in name_rules().get(kind, []):
        match = pattern.match(name)
        if match and _valid_svc(match.group("svc")):
            return match.group("svc"), exercise
    return None


def owner_of(kind: str, name: str, tags: dict[str, str]) -> tuple[str, int | None, bool] | None:
    """Return (student, exercise, tagged) of a resource, or None if it is not the lab's.

    Tagged: the lab:student tag names the student. Untagged: a lab name (data-<svc>, batch-lambda-<svc>…) does.
    """
    tagged = tags.get(TAG_COURSE[0]) == TAG_COURSE[1]
    exercise = int(tags[TAG_EXERCISE]) if tags.get(TAG_EXERCISE, "").isdigit() else None
    student = tags.get(TAG_STUDENT) if tagged else None
    if not student:
        found = svc_from_name(kind, name)
        if found:
            student, exercise = found[0], exercise or found[1]
    if student is None:
        return (NO_STUDENT, exercise, True) if tagged else None
    return student, exercise or DEFAULT_EXERCISE.get(kind), tagged
