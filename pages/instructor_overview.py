"""Instructor: the class overview (students × exercises, stuck, cost), one student's detail, and cleanup."""
from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import streamlit as st

from backend import monitor
from backend.prices import PRICES_AS_OF, PRICES_SOURCE
from pages import ui

REFRESH_CHOICES = {"15 s": 15, "30 s": 30, "1 min": 60, "5 min": 300}
ALL = "All"
SCOPES = {
    "student": "Everything of one student",
    "idle": "Stop idle instances (class)",
    "endpoints": "Delete endpoints (class)",
    "class": "Everything of the whole class",
}

st.title("Class overview")
ctx = ui.require_connection()
aws = ctx.aws
st.caption(f"Every student's lab resources in {aws.target.describe()}: the sandbox shows everyone who used it, "
           "a real account everyone working in it.")

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
    identity, _ = ui.identity_or_error(aws.target)
    return aws.target.describe(), identity.account if identity else "?", aws.region


# ---- controls (a change reruns the page; the snapshot is reused) ---------------------------------
left, middle, right, far = st.columns([1.2, 1, 1, 1.4])
exercise = left.selectbox("Exercise reached", [ALL, 1, 2, 3, 4, 5], key="mon_exercise",
                          format_func=lambda n: n if n == ALL else f"{n} · {monitor.EXERCISE_TITLES[n]}")
stuck_only = middle.toggle("Stuck only", key="mon_stuck")
cost_only = right.toggle("Running cost only", key="mon_cost")
stuck_after = far.number_input("Stuck after (minutes without change)", min_value=1, max_value=24 * 60,
                               value=int(monitor.STUCK_AFTER_MIN), step=5, key="mon_stuck_after")
auto_col, every_col, button_col = st.columns([1, 1, 1])
auto = auto_col.toggle("Auto-refresh", key="mon_auto")
every = REFRESH_CHOICES[every_col.selectbox("Every", list(REFRESH_CHOICES), index=1, key="mon_every",
                                            disabled=not auto)]
if button_col.button("Refresh now", key="mon_refresh", icon=":material/refresh:"):
    refresh()
# Read again whenever the page is opened: a snapshot from an earlier visit may no longer be true.
if st.session_state["mon_snapshot"] is None or ui.page_just_opened():
    refresh()


def class_table(rows: list[monitor.StudentRow]) -> pd.DataFrame:
    return pd.DataFrame({
        "student": [r.student for r in rows],
        **{f"{n} · {monitor.EXERCISE_TITLES[n]}": [r.cells[n].label() for r in rows] for n in monitor.EXERCISE_NUMBERS},
        "stuck": ["⚠" if r.stuck else "" for r in rows],
        "$/h": [r.hourly_usd for r in rows],
        "$ so far": [r.so_far_usd for r in rows],
        "idle min": [None if r.idle_minutes is None else round(r.idle_minutes) for r in rows],
        "resources": [len(r.resources) for r in rows],
        "tags": ["tagged" if r.tagged and not r.untagged else
                 f"{r.untagged} untagged" if r.tagged else "untagged" for r in rows],
        "why stuck": ["; ".join(r.stuck_reasons) for r in rows],
    })


@st.fragment(run_every=every if auto else None)
def overview_panel() -> None:
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
    a.metric("Students", len(view.rows))
    b.metric("Stuck", len(view.filter(stuck=True)))
    c.metric("Running cost", f"${view.total_hourly_usd:,.2f}/h")
    d.metric("Cost so far", f"${view.total_so_far_usd:,.2f}")
    st.caption(f"Last refreshed at {snapshot.taken_at.astimezone():%H:%M:%S} · {view.total_calls} AWS requests "
               f"({len(view.calls)} listings) in {view.seconds:.2f} s"
               + (f" · refreshes every {every} s" if auto else ""))
    if not view.rows:
        st.info("No lab resources in this account yet.")
        return
    if not rows:
        st.info("No student matches these filters.")
    else:
        st.dataframe(class_table(rows), hide_index=True, width="stretch", key="mon_table",
                     column_config={"$/h": st.column_config.NumberColumn(format="$%.3f"),
                                    "$ so far": st.column_config.NumberColumn(format="$%.2f")})
    unpriced = [u for r in view.rows for u in r.unpriced]
    if unpriced:
        st.warning(f"Not in the price table (cost unknown): {', '.join(unpriced[:10])}.")
    st.caption("● done · ◐ started · ✗ broken (stuck) · ○ not started; n/m = snapshot checks passed of those the "
               "listings can judge. From the snapshot: " +
               "; ".join(f"**{n}** {text}" for n, text in monitor.SNAPSHOT_CHECKS.items()) +
               f". Prices: on-demand, {PRICES_AS_OF} ({PRICES_SOURCE}); S3, Lambda and logs count as $0.")


overview_panel()
snapshot: monitor.ClassSnapshot | None = st.session_state["mon_snapshot"]
if snapshot is None:
    st.stop()
students = snapshot.students()

# ---- one student ---------------------------------------------------------------------------------
st.divider()
st.subheader("One student")
if not students:
    st.info("Nobody to look at yet.")
else:
    student = st.selectbox("Student", students, key="mon_student")
    mine = snapshot.of(student)
    now = snapshot.taken_at
    st.dataframe(pd.DataFrame({
        "kind": [r.kind for r in mine], "name": [r.name for r in mine], "exercise": [r.exercise for r in mine],
        "state": [r.state for r in mine],
        "age (min)": [round(r.age(now).total_seconds() / 60) if r.created else None for r in mine],
        "type": [r.instance_type or "" for r in mine],
        "$/h": [r.hourly_usd for r in mine],
        "tagged": ["yes" if r.tagged else ("checked at cleanup" if not r.tags_known else "no") for r in mine],
    }), hide_index=True, width="stretch", key="mon_resources")
    if st.button(f"Run {student}'s checks", key="mon_detail_run"):
        detail = ui.run_with_status(f"Checking {student}",
                                    lambda progress: monitor.student_detail(aws, student, snapshot), ctx)
        st.session_state["mon_detail"] = detail
    detail = st.session_state["mon_detail"]
    if detail is not None and detail.student == student:
        for number, results in detail.checks.items():
            passed = sum(r.passed for r in results)
            with st.expander(f"Exercise {number}: {passed} of {len(results)} checks pass",
                             icon=":material/check:" if passed == len(results) else ":material/close:"):
                for r in results:
                    text = f"**{r.title}** — {r.observed}" + (f"  \nHint: {r.hint}" if not r.passed and r.hint else "")
                    (st.success if r.passed else st.error)(text)
        st.markdown(f"**Lambda**: {detail.invocations} invocation(s) in the log, {len(detail.lambda_errors)} failed "
                    "(latest first).")
        for error in detail.lambda_errors:
            st.code("\n".join(error.lines) or "(no error line)", language="text")
        if detail.endpoint:
            st.markdown(f"**Endpoint** {detail.endpoint['EndpointName']}: {detail.endpoint['EndpointStatus']}"
                        + (f" — {detail.endpoint['FailureReason']}" if detail.endpoint.get("FailureReason") else ""))
        for instance in detail.instances:
            st.markdown(f"**Instance** {instance['InstanceId']} ({instance['InstanceType']}): {instance['State']}"
                        + (f" — {instance['StateReason']}" if instance.get("StateReason") else ""))

# ---- cleanup -------------------------------------------------------------------------------------
st.divider()
st.subheader("Clean up")
st.caption("Dry run first: the list says what would happen and why. Only resources tagged "
           "lab:course=mlops-aws (and, per student, lab:student=<name>) are touched, and each tag is read again "
           "right before its deletion. Untagged, hand-made resources are listed but never deleted.")
scope = st.radio("What", list(SCOPES), format_func=SCOPES.get, horizontal=True, key="mon_scope")
target_student = None
if scope == "student":
    target_student = st.selectbox("Student to clean up", students, key="mon_cleanup_student") if students else None
idle_minutes = st.number_input("Idle for at least (minutes)", min_value=0, value=60, step=15, key="mon_idle",
                               disabled=scope != "idle")
if st.button("Dry run", key="mon_plan_run", disabled=scope == "student" and not target_student):
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
        st.info("Nothing to do.")
    else:
        st.dataframe(pd.DataFrame({
            "will": [p.action if p.allowed else "leave" for p in plan], "kind": [p.kind for p in plan],
            "name": [p.name for p in plan], "student": [p.student for p in plan], "why": [p.why for p in plan],
        }), hide_index=True, width="stretch", key="mon_plan_table")
        made_on = planned[3]
        st.write(f"{len(allowed)} to {'stop' if scope == 'idle' else 'delete'}, {len(plan) - len(allowed)} left alone, "
                 f"in {ui.account_label(ctx)}, region {aws.region}.")
        confirm = st.checkbox(f"Yes, carry out these {len(allowed)} actions in {ui.account_label(ctx)}",
                              key="mon_confirm")
        typed_ok = True
        if scope == "class" and not aws.target.is_sandbox:
            # The whole class on a real account: one checkbox is not enough.
            typed = st.text_input("Type the account ID to confirm", key="mon_type_account")
            typed_ok = typed.strip() == made_on[1]
        if st.button("Clean up", key="mon_apply", type="primary", disabled=not (confirm and typed_ok and allowed)):
            if where_now() != made_on:
                st.session_state["mon_plan"] = None
                st.error(f"This plan was made for {made_on[0]} (account {made_on[1]}, {made_on[2]}); the settings now "
                         f"point at {ui.account_label(ctx)}, {aws.region}. Make a new dry run.")
                st.stop()
            results = ui.run_with_status("Cleaning up", lambda progress: monitor.apply_cleanup(aws, plan, progress), ctx)
            st.session_state["mon_results"] = results
            st.session_state["mon_plan"] = None
            st.session_state["mon_detail"] = None
            refresh()
            st.rerun()
results = st.session_state["mon_results"]
if results:
    done = sum(r.status == "done" for r in results)
    failed = [r for r in results if r.status == "failed"]
    (st.error if failed else st.success)(f"Cleanup finished: {done} done, {len(failed)} failed, "
                                         f"{sum(r.status == 'skipped' for r in results)} left alone.")
    st.dataframe(pd.DataFrame([{"kind": r.kind, "name": r.name, "student": r.student, "result": r.status,
                                "message": r.message} for r in results]),
                 hide_index=True, width="stretch", key="mon_results_table")

# ---- demonstration class -------------------------------------------------------------------------
if aws.target.is_sandbox:
    with st.expander("Seed a demonstration class (sandbox only)"):
        st.caption("Creates students at mixed stages (done, half-way, stuck on the handout's policy, with an instance "
                   "or an endpoint, untagged hand-made work). Everything seeded is tagged lab:seeded=true.")
        count = st.number_input("Students", min_value=1, max_value=500, value=30, key="mon_seed_n")
        if st.button("Seed", key="mon_seed_run"):
            seeded = ui.run_with_status(f"Seeding {count} students",
                                        lambda progress: monitor.seed_class(aws, int(count), progress), ctx)
            if seeded is not None:
                refresh()
                st.rerun()
