"""Lab check and monitor agree: what the class overview judges from its listings is what `lab check` says live.

A class seeded at every stage in the sandbox; for every student and exercise, each check the
overview could judge (passed not None) has the live result of `run_checks` for that student.
"""
from __future__ import annotations

import json

import pytest

from backend import ec2, iam, lambda_, monitor
from backend.aws import Aws, Target
from backend.lab import LabContext, run_checks
from backend.names import LabNames, lab_tags, tag_list

CLASS_SIZE = len(monitor.SEED_STAGES)  # one student per stage


def by_stage(students: list[str], stage: str) -> str:
    return next(svc for svc, s in monitor.seed_students(len(students), "agree") if s == stage)


def hand_made_mistakes(aws: Aws, students: list[str]) -> list[str]:
    """Add what the handout leads to: SSH open to the world, an end-of-life runtime, LabRole; return new students."""
    account = aws.account_id()
    group = ec2.get_security_group(aws, LabNames(by_stage(students, "ex4-running")).security_group)
    aws.client("ec2").authorize_security_group_ingress(
        GroupId=group["GroupId"], IpPermissions=[ec2.IngressRule(22, "0.0.0.0/0").permission()])
    lam, zipped = aws.client("lambda"), lambda_.zip_files({"handler.py": b"def lambda_handler(e, c):\n    return 1\n"})
    old, learner = LabNames("agree-old"), LabNames("agree-learner")
    # As in an AWS Academy learner lab: LabRole exists for everyone, whether they use it or not.
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {
        "Service": ["lambda.amazonaws.com", "sagemaker.amazonaws.com", "ec2.amazonaws.com"]}}]}
    aws.client("iam").create_role(RoleName=iam.LAB_ROLE, AssumeRolePolicyDocument=json.dumps(trust))
    for names, runtime, role in ((old, "python3.7", f"arn:aws:iam::{account}:role/{iam.LAB_ROLE}"),
                                 (learner, "python3.12", f"arn:aws:iam::{account}:role/{iam.LAB_ROLE}")):
        lam.create_function(FunctionName=names.lambda_function, Runtime=runtime, Handler="handler.lambda_handler",
                            Role=role, Code={"ZipFile": zipped}, Tags=lab_tags(names.svc, 3),
                            Environment={"Variables": {"OUTPUT_BUCKET": names.model_bucket}})
    # exercise 3's role reused for SageMaker: it trusts only Lambda
    aws.client("iam").create_role(RoleName=learner.sagemaker_role, Tags=tag_list(lab_tags(learner.svc, 5)),
                                  AssumeRolePolicyDocument=json.dumps(iam.trust_policy("lambda.amazonaws.com")))
    return [old.svc, learner.svc]


@pytest.fixture(scope="module")
def judged(live_sandbox):
    """(facade, overview, {(student, exercise): {check id: CheckResult}} judged live) for a seeded class."""
    from backend.exercises import EXERCISES

    aws = Aws(Target.sandbox(endpoint_url=live_sandbox.url))
    students = monitor.seed_class(aws, CLASS_SIZE, prefix="agree")
    students += hand_made_mistakes(aws, students)
    view = monitor.overview(monitor.collect(aws))
    live = {(svc, n): {r.id: r for r in run_checks(LabContext(aws, svc), exercise)}
            for svc in students for n, exercise in EXERCISES.items()}
    return aws, view, live


def test_every_check_the_overview_judged_matches_the_live_check(judged):
    _, view, live = judged
    disagreements, compared = [], 0
    for row in view.rows:
        for n, cell in row.cells.items():
            for check in cell.checks:
                if check.passed is None:
                    continue
                compared += 1
                actual = live[(row.student, n)].get(check.id)
                if actual is None or (actual.passed, actual.broken) != (check.passed, check.broken):
                    disagreements.append(f"{row.student} ex{n} {check.id}: overview {check.passed}"
                                         f"{' broken' if check.broken else ''} ({check.observed}) vs live "
                                         + ("no such check" if actual is None else
                                            f"{actual.passed}{' broken' if actual.broken else ''} ({actual.observed})"))
    assert not disagreements, "\n".join(disagreements)
    assert compared >= 5 * len(view.rows)  # the listings judge a good part of every row, not nothing


def test_what_blocks_a_student_is_broken_in_both(judged):
    _, view, live = judged
    broken = {(row.student, n, c.id) for row in view.rows for n, cell in row.cells.items() for c in cell.checks
              if c.broken}
    assert {("agree-old", 3, "function"), ("agree-learner", 5, "role")} <= broken
    assert any(n == 4 and check == "ports" for _, n, check in broken)  # SSH open to the world
    assert any(n == 3 and check == "policy" for _, n, check in broken)  # the handout's bucket ARNs
    assert all(live[(student, n)][check].broken for student, n, check in broken)


def test_each_exercise_has_checks_the_listings_can_judge(judged):
    _, view, _ = judged
    judged_ids = {n: {c.id for row in view.rows for c in row.cells[n].checks if c.passed is not None}
                  for n in monitor.EXERCISE_NUMBERS}
    assert all(judged_ids.values()), judged_ids


def test_the_overview_judges_with_the_exercises_own_checks(judged):
    from backend.exercises import EXERCISES

    _, view, _ = judged
    for row in view.rows:
        for n, cell in row.cells.items():
            assert [c.id for c in cell.checks] == [c.id for c in EXERCISES[n].checks]
