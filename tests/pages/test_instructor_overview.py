"""The instructor's class overview page, against a live sandbox holding a seeded class."""
from unittest import mock

import pytest
from botocore.exceptions import EndpointConnectionError

from backend import monitor
from backend.aws import Aws, Target

PAGE = "pages/instructor_overview.py"
CLASS_SIZE = 10


@pytest.fixture(scope="module")
def seeded(live_sandbox):
    """A class of CLASS_SIZE students at mixed stages in the module's sandbox."""
    return monitor.seed_class(Aws(Target.sandbox(endpoint_url=live_sandbox.url)), CLASS_SIZE)


def table(at, column: str):
    """Return the first dataframe the page shows with this column (AppTest does not expose their keys)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def stage_students(stage: str) -> list[str]:
    return [svc for svc, s in monitor.seed_students(CLASS_SIZE) if s == stage]


def test_the_table_shows_every_student_with_cost_and_stuck(seeded, sandbox_settings, page_app, texts):
    at = page_app(PAGE)
    rows = table(at, "stuck")
    assert set(seeded) <= set(rows["student"])
    stuck = set(rows.loc[rows["stuck"] != "", "student"])
    assert set(stage_students("ex3-stuck-policy")) <= stuck
    assert at.metric[0].value == str(len(rows))
    assert "Last refreshed at" in texts(at)
    assert rows.loc[rows["student"] == stage_students("ex3-stuck-policy")[0], "why stuck"].str.contains("input-bucket-").all()
    running = rows.loc[rows["$/h"] > 0, "student"]
    assert set(stage_students("ex4-running") + stage_students("ex5-endpoint")) <= set(running)


def test_filters_narrow_the_table(seeded, sandbox_settings, page_app):
    at = page_app(PAGE)
    at.toggle(key="mon_stuck").set_value(True).run()
    assert not at.exception
    assert set(table(at, "stuck")["student"]) == set(stage_students("ex3-stuck-policy"))
    at.toggle(key="mon_stuck").set_value(False)
    at.toggle(key="mon_cost").set_value(True).run()
    assert set(table(at, "stuck")["student"]) == set(
        stage_students("ex4-running") + stage_students("ex5-endpoint"))


def test_drill_down_runs_the_real_checks(seeded, sandbox_settings, page_app):
    at = page_app(PAGE)
    student = stage_students("ex3-stuck-policy")[0]
    at.selectbox(key="mon_student").set_value(student).run()
    at.button(key="mon_detail_run").click().run()
    assert not at.exception
    labels = [e.label for e in at.expander]
    assert any(label.startswith("Exercise 3:") for label in labels)
    assert any("input-bucket-" in e.value for e in at.error)  # the policy check's hint names the handout's ARNs


def test_cleanup_of_one_student_is_a_dry_run_then_confirmed(seeded, sandbox_settings, page_app):
    student = stage_students("ex4-running")[0]
    at = page_app(PAGE)
    at.radio(key="mon_scope").set_value("student")
    at.selectbox(key="mon_cleanup_student").set_value(student).run()
    at.button(key="mon_plan_run").click().run()
    plan = table(at, "will")
    assert set(plan["student"]) == {student}
    # everything of theirs is tagged, the layer in its description: nothing is left alone
    assert {"terminate", "delete every version"} <= set(plan["will"]) and "leave" not in set(plan["will"])
    assert at.button(key="mon_apply").disabled
    at.checkbox(key="mon_confirm").check().run()
    at.button(key="mon_apply").click().run()
    assert not at.exception
    assert any("Cleanup finished" in s.value for s in at.success)
    left = monitor.collect(Aws(Target.sandbox(endpoint_url=sandbox_settings.endpoint_url))).of(student)
    assert all(not r.tagged for r in left)
    assert any(r.kind == "bucket" for svc in seeded if svc != student
               for r in monitor.collect(Aws(Target.sandbox(endpoint_url=sandbox_settings.endpoint_url))).of(svc))


def test_an_aws_error_is_shown_not_raised(sandbox_settings, page_app):
    with mock.patch("backend.monitor.collect", side_effect=EndpointConnectionError(endpoint_url="http://x")):
        at = page_app(PAGE)
    assert not at.exception
    assert at.error


def test_the_overview_is_read_again_when_the_page_is_opened(sandbox_settings):
    """A student's new bucket appears after leaving the page and coming back, without 'Refresh now'."""
    from streamlit.testing.v1 import AppTest

    from backend.names import lab_tags, propose_svc, tag_list
    from tests.pages.conftest import ROOT

    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60).run()
    at.switch_page(PAGE).run()
    newcomer = propose_svc("late")
    assert not any(newcomer in str(v) for d in at.dataframe for v in d.value.to_numpy().ravel())
    s3 = Aws(Target.sandbox(endpoint_url=sandbox_settings.endpoint_url)).client("s3")
    s3.create_bucket(Bucket=f"data-{newcomer}", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    s3.put_bucket_tagging(Bucket=f"data-{newcomer}", Tagging={"TagSet": tag_list(lab_tags(newcomer, 2))})
    at.switch_page("pages/setup.py").run()
    at.switch_page(PAGE).run()
    assert not at.exception
    assert newcomer in set(table(at, "stuck")["student"])


def test_a_plan_made_for_one_target_is_refused_after_setup_switched(seeded, sandbox_settings, page_app, monkeypatch):
    student = stage_students("ex2-done")[0]
    at = page_app(PAGE)
    at.radio(key="mon_scope").set_value("student")
    at.selectbox(key="mon_cleanup_student").set_value(student).run()
    at.button(key="mon_plan_run").click().run()
    at.checkbox(key="mon_confirm").check().run()
    from backend.identity import Identity

    other = Identity("999999999999", "arn:aws:iam::999999999999:user/x", "AID", "x", None)
    with mock.patch("pages.ui.identity_or_error", return_value=(other, None)):  # Setup now points elsewhere
        at.button(key="mon_apply").click().run()
    assert any("This plan was made for" in e.value and "Make a new dry run" in e.value for e in at.error)
    left = monitor.collect(Aws(Target.sandbox(endpoint_url=sandbox_settings.endpoint_url))).of(student)
    assert any(r.kind == "bucket" for r in left)  # nothing was deleted
