"""Instructor: the class overview (students × exercises, stuck, cost), one student's detail, and cleanup."""
from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import streamlit as st

from backend import ec2, i18n, monitor
from backend.i18n import N_, _, ngettext
from backend.prices import PRICES_SOURCE, prices_as_of
from pages import ui

REFRESH_CHOICES = {"15 s": 15, "30 s": 30, "1 min": 60, "5 min": 300}
ALL = N_("All")  # the option's value; shown as _(ALL)
SCOPES = {
    "student": N_("Everything of one student"),
    "idle": N_("Stop idle instances (class)"),
    "endpoints": N_("Delete endpoints (class)"),
    "class": N_("Everything of the whole class"),
}
# Tables keep English column keys (tests and code read them); these are the headers shown.
CLASS_HEADERS = {"student": N_("student"), "stuck": N_("stuck"), "idle min": N_("idle min"),
                 "resources": N_("resources"), "tags": N_("tags"), "why stuck": N_("why stuck")}
RESOURCE_HEADERS = {"kind": N_("kind"), "name": N_("name"), "exercise": N_("exercise"), "state": N_("state"),
                    "age (min)": N_("age (min)"), "type": N_("type"), "tagged": N_("tagged")}
PLAN_HEADERS = {"will": N_("will"), "kind": N_("kind"), "name": N_("name"), "student": N_("student"), "why": N_("why")}
RESULT_HEADERS = {"kind": N_("kind"), "name": N_("name"), "student": N_("student"), "result": N_("result"),
                  "message": N_("message")}
# What the deleter reports per resource (backend/deleter.py), in words.
RESULT_WORDS = {"done": N_("done"), "gone": N_("gone"), "skipped": N_("skipped"), "failed": N_("failed")}


def headers(names: dict[str, str], **more) -> dict:
    """A table's column_config: each key's header in the page's language, plus any column configs given."""
    return {**{key: _(label) for key, label in names.items()}, **more}


def price_columns(*keys: str) -> dict:
    """Hourly and accumulated dollars, as numbers (sortable) with their headers."""
    formats = {"$/h": (N_("$/h"), 0.001), "$ so far": (N_("$ so far"), 0.01)}
    return {key: st.column_config.NumberColumn(_(formats[key][0]), format="dollar", step=formats[key][1])
            for key in keys}


st.title(_("Class overview"))
ctx = ui.require_connection()
aws = ctx.aws
st.caption(_("Every student's lab resources in {target}: the sandbox shows everyone who used it, "
             "a real account everyone working in it.").format(target=aws.target.describe()))

for key, default in (("mon_snapshot", None), ("mon_detail", None), ("mon_plan", None), ("mon_results", None)):
    if key not in st.session_state:
        st.session_state[key] = default


def refresh() -> None:
    """Take a new snapshot (listing calls only); a cleanup plan made on the old one is dropped.

    On an error the page says so and shows no snapshot: an old one would claim what may no longer be true.
    """
    st.session_state["mon_plan"] = None
    st.session_state["mon_detail"] = None
    try:
        st.session_state["mon_snapshot"] = monitor.collect(aws)
    except Exception as exc:
        st.session_state["mon_snapshot"] = None
        ui.show_error(exc, ctx)


def where_now() -> tuple[str, str, str]:
    """(target, account, region) of the current settings: a cleanup plan is valid only where it was made."""
    identity, _error = ui.identity_or_error(aws.target)
    return aws.target.identity(), identity.account if identity else "?", aws.region


# ---- controls (a change reruns the page; the snapshot is reused) ---------------------------------
left, middle, right, far = st.columns([1.2, 1, 1, 1.4])
exercise = left.selectbox(_("Exercise reached"), [ALL, 1, 2, 3, 4, 5], key="mon_exercise",
                          format_func=lambda n: _(ALL) if n == ALL else f"{n} · {_(monitor.EXERCISE_TITLES[n])}")
stuck_only = middle.toggle(_("Stuck only"), key="mon_stuck")
cost_only = right.toggle(_("Running cost only"), key="mon_cost")
stuck_after = far.number_input(_("Stuck after (minutes without change)"), min_value=1, max_value=24 * 60,
                               value=int(monitor.STUCK_AFTER_MIN), step=5, key="mon_stuck_after")
auto_col, every_col, button_col = st.columns([1, 1, 1])
auto = auto_col.toggle(_("Auto-refresh"), key="mon_auto")
every = REFRESH_CHOICES[every_col.selectbox(_("Every"), list(REFRESH_CHOICES), index=1, key="mon_every",
                                            disabled=not auto)]
if button_col.button(_("Refresh now"), key="mon_refresh", icon=":material/refresh:"):
    refresh()
# Read again whenever the page is opened: a snapshot from an earlier visit may no longer be true.
if st.session_state["mon_snapshot"] is None or ui.page_just_opened():
    refresh()


def exercise_column(n: int) -> str:
    return f"{n} · {monitor.EXERCISE_TITLES[n]}"


def class_table(rows: list[monitor.StudentRow]) -> pd.DataFrame:
    return pd.DataFrame({
        "student": [r.student for r in rows],
        **{exercise_column(n): [r.cells[n].label() for r in rows] for n in monitor.EXERCISE_NUMBERS},
        "stuck": ["⚠" if r.stuck else "" for r in rows],
        "$/h": [r.hourly_usd for r in rows],
        "$ so far": [r.so_far_usd for r in rows],
        "idle min": [None if r.idle_minutes is None else round(r.idle_minutes) for r in rows],
        "resources": [len(r.resources) for r in rows],
        "tags": [_("tagged") if r.tagged and not r.untagged else
                 _("{n} untagged").format(n=r.untagged) if r.tagged else _("untagged") for r in rows],
        "why stuck": ["; ".join(r.stuck_reasons) for r in rows],
    })


def class_headers() -> dict:
    exercises = {exercise_column(n): f"{n} · {_(monitor.EXERCISE_TITLES[n])}" for n in monitor.EXERCISE_NUMBERS}
    return headers(CLASS_HEADERS, **exercises, **price_columns("$/h", "$ so far"))


@st.fragment(run_every=every if auto else None)
def overview_panel() -> None:
    i18n.set_language(ui.language())  # a fragment's own rerun skips dashboard.py, which sets the language
    snapshot = st.session_state["mon_snapshot"]
    if auto and (snapshot is None or (datetime.now(timezone.utc) - snapshot.taken_at).total_seconds() >= every * 0.9):
        refresh()
        snapshot = st.session_state["mon_snapshot"]
    if snapshot is None:
        return
    view = monitor.overview(snapshot, stuck_after_min=float(stuck_after))
    rows = view.filter(exercise=None if exercise == ALL else exercise, stuck=True if stuck_only else None,
                       running_cost=True if cost_only else None)
    a, b, c, d = st.columns(4)
    a.metric(_("Students"), len(view.rows))
    b.metric(_("Stuck"), len(view.filter(stuck=True)))
    c.metric(_("Running cost"), _("{money}/h").format(money=i18n.money(view.total_hourly_usd)))
    d.metric(_("Cost so far"), i18n.money(view.total_so_far_usd))
    st.caption(_("Last refreshed at {time} · {requests} AWS requests ({listings} listings) in {seconds} s").format(
        time=f"{snapshot.taken_at.astimezone():%H:%M:%S}", requests=i18n.number(view.total_calls),
        listings=i18n.number(len(view.calls)), seconds=i18n.number(view.seconds, 2))
               + (_(" · refreshes every {seconds} s").format(seconds=every) if auto else ""))
    if not view.rows:
        st.info(_("No lab resources in this account yet."))
        return
    if not rows:
        st.info(_("No student matches these filters."))
    else:
        st.dataframe(class_table(rows), hide_index=True, width="stretch", key="mon_table",
                     column_config=class_headers())
    unpriced = [u for r in view.rows for u in r.unpriced]
    if unpriced:
        st.warning(_("Not in the price table (cost unknown): {items}.").format(items=", ".join(unpriced[:10])))
    checks = "; ".join(f"**{n}** {_(text)}" for n, text in monitor.SNAPSHOT_CHECKS.items())
    st.caption(_("● done · ◐ started · ✗ broken (stuck) · ○ not started; n/m = snapshot checks passed of those the "
                 "listings can judge. From the snapshot: {checks}. Prices: on-demand, {as_of} ({source}); S3, "
                 "Lambda and logs count as {zero}.").format(checks=checks, as_of=prices_as_of(),
                                                           source=PRICES_SOURCE, zero=i18n.money(0, decimals=0)))


overview_panel()
snapshot: monitor.ClassSnapshot | None = st.session_state["mon_snapshot"]
if snapshot is None:
    st.stop()
students = snapshot.students()

# ---- one student ---------------------------------------------------------------------------------
st.divider()
st.subheader(_("One student"))
if not students:
    st.info(_("Nobody to look at yet."))
else:
    student = st.selectbox(_("Student"), students, key="mon_student")
    mine = snapshot.of(student)
    now = snapshot.taken_at
    st.dataframe(pd.DataFrame({
        "kind": [r.kind for r in mine], "name": [r.name for r in mine], "exercise": [r.exercise for r in mine],
        "state": [r.state_label() for r in mine],
        "age (min)": [round(r.age(now).total_seconds() / 60) if r.created else None for r in mine],
        "type": [r.instance_type or "" for r in mine],
        "$/h": [r.hourly_usd for r in mine],
        "tagged": [_("yes") if r.tagged else (_("checked at cleanup") if not r.tags_known else _("no")) for r in mine],
    }), hide_index=True, width="stretch", key="mon_resources",
        column_config=headers(RESOURCE_HEADERS, **price_columns("$/h")))
    if st.button(_("Run {student}'s checks").format(student=student), key="mon_detail_run"):
        detail = ui.run_with_status(_("Checking {student}").format(student=student),
                                    lambda progress: monitor.student_detail(aws, student, snapshot), ctx)
        st.session_state["mon_detail"] = detail
    detail = st.session_state["mon_detail"]
    if detail is not None and detail.student == student:
        for number, results in detail.checks.items():
            passed = sum(r.passed for r in results)
            with st.expander(ngettext("Exercise {number}: {passed} of {total} check passes",
                                      "Exercise {number}: {passed} of {total} checks pass", len(results)).format(
                                 number=number, passed=passed, total=len(results)),
                             icon=":material/check:" if passed == len(results) else ":material/close:"):
                for r in results:
                    hint = "  \n" + _("Hint: {hint}").format(hint=r.hint) if not r.passed and r.hint else ""
                    (st.success if r.passed else st.error)(f"**{_(r.title)}** — {r.observed}{hint}")
        st.markdown(ngettext("**Lambda**: {n} invocation in the log, {failed} failed (latest first).",
                             "**Lambda**: {n} invocations in the log, {failed} failed (latest first).",
                             detail.invocations).format(n=detail.invocations, failed=len(detail.lambda_errors)))
        for error in detail.lambda_errors:
            st.code("\n".join(error.lines) or _("(no error line)"), language="text")
        if detail.endpoint:
            st.markdown(_("**Endpoint** {name}: {status}").format(name=detail.endpoint["EndpointName"],
                                                                  status=detail.endpoint["EndpointStatus"])
                        + (f" — {detail.endpoint['FailureReason']}" if detail.endpoint.get("FailureReason") else ""))
        for instance in detail.instances:
            st.markdown(_("**Instance** {id} ({type}): {state}").format(
                id=instance["InstanceId"], type=instance["InstanceType"], state=ec2.state_word(instance["State"]))
                        + (f" — {instance['StateReason']}" if instance.get("StateReason") else ""))

# ---- cleanup -------------------------------------------------------------------------------------
st.divider()
st.subheader(_("Clean up"))
st.caption(_("Dry run first: the list says what would happen and why. Only resources tagged "
             "lab:course=mlops-aws (and, per student, lab:student=<name>) are touched, and each tag is read again "
             "right before its deletion. Untagged, hand-made resources are listed but never deleted."))
scope = st.radio(_("What"), list(SCOPES), format_func=lambda s: _(SCOPES[s]), horizontal=True, key="mon_scope")
target_student = None
if scope == "student":
    target_student = st.selectbox(_("Student to clean up"), students, key="mon_cleanup_student") if students else None
idle_minutes = st.number_input(_("Idle for at least (minutes)"), min_value=0, value=60, step=15, key="mon_idle",
                               disabled=scope != "idle")
if st.button(_("Dry run"), key="mon_plan_run", disabled=scope == "student" and not target_student):
    if scope == "student":
        plan = monitor.cleanup_plan(snapshot, target_student)
    elif scope == "idle":
        plan = monitor.stop_idle_instances_plan(snapshot, float(idle_minutes))
    elif scope == "endpoints":
        plan = monitor.delete_endpoints_plan(snapshot)
    else:
        plan = monitor.cleanup_plan(snapshot)
    st.session_state["mon_plan"] = (scope, target_student, plan, where_now())
    st.session_state["mon_results"] = None

planned = st.session_state["mon_plan"]
if planned is not None and planned[0] == scope and planned[1] == target_student:
    plan = planned[2]
    allowed = [p for p in plan if p.allowed]
    if not plan:
        st.info(_("Nothing to do."))
    else:
        st.dataframe(pd.DataFrame({
            "will": [_(p.action) if p.allowed else _("leave") for p in plan], "kind": [p.kind for p in plan],
            "name": [p.name for p in plan], "student": [p.student for p in plan], "why": [p.why for p in plan],
        }), hide_index=True, width="stretch", key="mon_plan_table", column_config=headers(PLAN_HEADERS))
        made_on = planned[3]
        counts = (_("{n} to stop, {left} left alone, in {account}, region {region}.") if scope == "idle"
                  else _("{n} to delete, {left} left alone, in {account}, region {region}."))
        st.write(counts.format(n=len(allowed), left=len(plan) - len(allowed), account=ui.account_label(ctx),
                               region=aws.region))
        confirm = st.checkbox(ngettext("Yes, carry out this {n} action in {account}",
                                       "Yes, carry out these {n} actions in {account}", len(allowed)).format(
                                  n=len(allowed), account=ui.account_label(ctx)),
                              key="mon_confirm")
        typed_ok = True
        if scope == "class" and not aws.target.is_sandbox:
            # The whole class on a real account: one checkbox is not enough.
            typed = st.text_input(_("Type the account ID to confirm"), key="mon_type_account")
            typed_ok = typed.strip() == made_on[1]
        if st.button(_("Clean up"), key="mon_apply", type="primary", disabled=not (confirm and typed_ok and allowed)):
            if where_now() != made_on:
                st.session_state["mon_plan"] = None
                st.error(_("This plan was made for {target} (account {account}, {region}); the settings now point at "
                           "{now_account}, {now_region}. Make a new dry run.").format(
                    target=made_on[0], account=made_on[1], region=made_on[2], now_account=ui.account_label(ctx),
                    now_region=aws.region))
                st.stop()
            results = ui.run_with_status(_("Cleaning up"), lambda progress: monitor.apply_cleanup(aws, plan, progress),
                                         ctx)
            st.session_state["mon_results"] = results
            st.session_state["mon_plan"] = None
            st.session_state["mon_detail"] = None
            refresh()
            st.rerun()
results = st.session_state["mon_results"]
if results:
    done = sum(r.status == "done" for r in results)
    failed = [r for r in results if r.status == "failed"]
    (st.error if failed else st.success)(_("Cleanup finished: {done} done, {failed} failed, {skipped} left alone.")
                                         .format(done=done, failed=len(failed),
                                                 skipped=sum(r.status == "skipped" for r in results)))
    st.dataframe(pd.DataFrame([{"kind": r.kind, "name": r.name, "student": r.student,
                                "result": _(RESULT_WORDS[r.status]) if r.status in RESULT_WORDS else r.status,
                                "message": r.message} for r in results]),
                 hide_index=True, width="stretch", key="mon_results_table", column_config=headers(RESULT_HEADERS))

# ---- demonstration class -------------------------------------------------------------------------
if aws.target.is_sandbox:
    with st.expander(_("Seed a demonstration class (sandbox only)")):
        st.caption(_("Creates students at mixed stages (done, half-way, stuck on the handout's policy, with an "
                     "instance or an endpoint, untagged hand-made work). Everything seeded is tagged lab:seeded=true."))
        count = st.number_input(_("Students"), min_value=1, max_value=500, value=30, key="mon_seed_n")
        if st.button(_("Seed"), key="mon_seed_run"):
            seeded = ui.run_with_status(ngettext("Seeding {n} student", "Seeding {n} students", int(count)).format(
                                            n=int(count)),
                                        lambda progress: monitor.seed_class(aws, int(count), progress), ctx)
            if seeded is not None:
                refresh()
                st.rerun()
