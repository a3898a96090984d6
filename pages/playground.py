"""Prediction playground: the same records on every deployment of the model, side by side.

Results are shown only while they are true: each is remembered with what its target was when it
answered, and dropped once that target is gone or replaced (checked on every render, cached a few
seconds). They outlive a page reload the same way: kept per student on the server, checked again.
"""
import io
import random
import threading

import pandas as pd
import streamlit as st

from backend import charts, i18n
from backend.artifacts import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES, SAMPLE_RECORD
from backend.aws import Target
from backend.config import COURSE_DIR
from backend.i18n import _, ngettext
from backend.lab import LabContext
from backend.local_model import feature_choices, records_from_csv
from backend.predict import TARGET_TITLES, compare, predict, target_states
from backend.prediction import ScoredRun, column_headers, comparison_table, prediction_row, still_true
from pages import ui

EXERCISE_PAGES = {"lambda": "pages/ex3_lambda.py", "ec2": "pages/ex4_ec2.py", "sagemaker": "pages/ex5_sagemaker.py"}
# Whether each target exists is read again this often at most: cheap enough for every click, and a
# target deleted on another page stops counting within seconds.
STATE_SECONDS = 5


@st.cache_data(ttl=STATE_SECONDS, show_spinner=False)
def _target_states(target: Target, svc: str, language: str):
    i18n.set_language(language)  # the reasons are sentences: cached per language
    return target_states(LabContext(ui.aws_for(target), svc))


@st.cache_resource
def _saved_runs() -> tuple[dict, threading.Lock]:
    """The last runs per (target, student, tab), server-wide: a reload finds them (and checks them again)."""
    return {}, threading.Lock()


def remembered(ctx, tab: str, identities: dict[str, str]):
    """This tab's last run, with the results of targets that are gone or replaced dropped (and said so)."""
    key = f"play_{tab}_scored"
    saved, lock = _saved_runs()
    where = (ctx.aws.target, ctx.svc, tab)
    with lock:
        run = st.session_state.get(key) or saved.get(where)
    if run is None:
        return None
    run, dropped = still_true(run, identities)
    with lock:
        if run is None:
            saved.pop(where, None)
            st.session_state.pop(key, None)
        else:
            saved[where] = st.session_state[key] = run
    if dropped:
        names = ", ".join(_(TARGET_TITLES[t]) for t in dropped)
        st.info(ngettext("Results of {names} dropped: that target no longer exists as it was when it answered. "
                         "Predict again to compare the targets there are now.",
                         "Results of {names} dropped: those targets no longer exist as they were when they answered. "
                         "Predict again to compare the targets there are now.", len(dropped)).format(names=names),
                icon=":material/history:")
    return run


def remember(ctx, tab: str, run: ScoredRun | None) -> None:
    saved, lock = _saved_runs()
    with lock:
        if run is None:
            saved.pop((ctx.aws.target, ctx.svc, tab), None)
            st.session_state.pop(f"play_{tab}_scored", None)
        else:
            saved[(ctx.aws.target, ctx.svc, tab)] = st.session_state[f"play_{tab}_scored"] = run


def agreement(results, rows: int) -> None:
    """Whether the targets (all of which exist now) agree; nothing to say for a single target."""
    mismatches = compare(list(results))
    if mismatches:
        st.error(ngettext("{n} of {rows} record differs between targets (first: row {first}): "
                          "they should serve the same model.",
                          "{n} of {rows} records differ between targets (first: row {first}): "
                          "they should serve the same model.", rows).format(
                     n=i18n.number(len(mismatches)), rows=i18n.number(rows), first=i18n.number(mismatches[0] + 1)))
    elif len(results) > 1:
        st.success(_("All {n} targets agree on all {rows} rows.").format(n=len(results), rows=i18n.number(rows))
                   if rows > 1 else _("All {n} targets agree.").format(n=len(results)))


st.title(_("Prediction playground"))
ctx = ui.require_connection()
st.caption(_("Every deployment serves the same model, so they should agree; a mismatch is flagged."))

# ---- targets --------------------------------------------------------------------------------
st.subheader(_("Targets"))
states = _target_states(ctx.aws.target, ctx.svc, i18n.current())
# What answers now, by what it is: its identity, the same in every language (a switch of language must
# not drop a result); a state given no identity is known by its reason.
identities = {s.target: s.identity or s.reason for s in states if s.available}
chosen = []
for column, state in zip(st.columns(len(states)), states):
    with column:
        ticked = st.checkbox(_(TARGET_TITLES[state.target]), value=state.available, disabled=not state.available,
                             key=f"play_target_{state.target}")
        if ticked and state.available:
            chosen.append(state.target)
        st.caption(state.reason)
        if not state.available and state.target in EXERCISE_PAGES:
            ui.page_link(EXERCISE_PAGES[state.target], _("Open the exercise"), ":material/arrow_forward:")


@st.fragment(run_every=STATE_SECONDS if any(s.changing for s in states) else None)
def watch_changing_targets() -> None:
    """While an instance starts or an endpoint is created, look again every few seconds; rerun once it settles."""
    i18n.set_language(ui.language())  # a fragment's own rerun skips dashboard.py, which sets the language
    now = _target_states(ctx.aws.target, ctx.svc, i18n.current())
    if [(s.available, s.changing) for s in now] != [(s.available, s.changing) for s in states]:
        st.rerun(scope="app")


watch_changing_targets()


def run_targets(records, name: str = "", truth=None) -> ScoredRun | None:
    results = []
    for target in chosen:
        result = ui.run_with_status(ngettext("{target}: {n} record", "{target}: {n} records", len(records)).format(
                                        target=_(TARGET_TITLES[target]), n=i18n.number(len(records))),
                                    lambda progress, t=target: predict(ctx, t, records, progress), ctx)
        if result is not None:
            results.append(result)
    if not results:
        return None
    return ScoredRun(tuple(records), tuple(results), {r.target: identities[r.target] for r in results}, name,
                     tuple(truth) if truth is not None else None)


record_tab, csv_tab = st.tabs([_("One record"), _("A CSV file")])

# ---- one record -----------------------------------------------------------------------------
with record_tab:
    if "play_record" not in st.session_state:
        st.session_state["play_record"] = dict(SAMPLE_RECORD)
    left, right = st.columns(2)
    if left.button(_("Sample record (lab guide)"), key="play_sample"):
        st.session_state["play_record"] = dict(SAMPLE_RECORD)
    if right.button(_("Random row from the test data"), key="play_random"):
        rows = pd.read_csv(COURSE_DIR / "adult_batch.csv", keep_default_na=False)
        row = rows.iloc[random.randrange(len(rows))]
        st.session_state["play_record"] = {f: (int(row[f]) if f in NUMERIC_FEATURES and row[f] != "" else row[f])
                                           for f in FEATURES}
    record = st.session_state["play_record"]
    form = st.form("play_record_form")
    version = hash(tuple(record.items()))  # new widgets when a preset replaces the record
    with form:
        values = ui.record_fields(record, feature_choices(), f"play_{version}")
    if form.form_submit_button(_("Predict on the chosen targets"), type="primary"):
        remember(ctx, "record", run_targets([values]))
    run = remembered(ctx, "record", identities)
    if run is not None:
        table = pd.DataFrame([prediction_row(r.predictions[0], {"target": _(TARGET_TITLES[r.target]),
                                                                "latency (ms)": round(r.seconds * 1000, 1)})
                              for r in run.results])
        st.dataframe(table, hide_index=True, width="stretch", key="play_record_table",
                     column_config=column_headers(table.columns))
        agreement(run.results, 1)

# ---- a CSV ----------------------------------------------------------------------------------
with csv_tab:
    uploaded = st.file_uploader(_("CSV with the 12 feature columns (e.g. input_batch.csv)"), type=["csv"],
                                key="play_csv")
    left, right = st.columns(2)
    source = None
    if left.button(_("Score the uploaded file"), key="play_csv_run", disabled=uploaded is None):
        source = (uploaded.name, uploaded.getvalue())
    if right.button(_("Score the course's adult_batch.csv (has labels)"), key="play_csv_course"):
        source = ("adult_batch.csv", (COURSE_DIR / "adult_batch.csv").read_bytes())
    if source is not None:
        try:
            records = records_from_csv(source[1], source[0])
        except Exception as exc:
            ui.show_error(exc, ctx)
        else:
            truth = pd.read_csv(io.BytesIO(source[1]), keep_default_na=False, dtype=str).get("income")
            remember(ctx, "csv", run_targets(records, source[0], truth))
    run = remembered(ctx, "csv", identities)
    if run is not None:
        records, results = list(run.records), run.results
        agreement(results, len(records))
        timings = pd.DataFrame([{"target": _(TARGET_TITLES[r.target]), "rows": len(r.predictions),
                                 "seconds": round(r.seconds, 3)} for r in results])
        st.dataframe(timings, hide_index=True, column_config=column_headers(timings.columns))
        # Column keys stay English (the downloaded CSV keeps them); the headers shown follow the language.
        frame = comparison_table(records, [(TARGET_TITLES[r.target], r.predictions) for r in results])
        headers = column_headers(frame.columns)
        answers = (_("{name}: `{label}` and `{probability}` are {target}'s; the other targets' answers follow, "
                     "then the inputs.") if len(results) > 1
                   else _("{name}: `{label}` and `{probability}` are {target}'s, then the inputs."))
        st.caption(answers.format(name=run.name, label=headers["label"], probability=headers["probability"],
                                  target=_(TARGET_TITLES[results[0].target])))
        st.dataframe(frame.head(500), hide_index=True, width="stretch", key="play_csv_table", column_config=headers)
        st.download_button(_("Download the predictions (CSV)"), frame.to_csv(index=False).encode(),
                           file_name=run.name.rsplit(".", 1)[0] + "_predictions.csv", key="play_download")
        st.plotly_chart(charts.probability_histogram(frame), key="play_hist")
        feature = st.selectbox(_("Share of >50K by"), list(CATEGORICAL_FEATURES) + list(NUMERIC_FEATURES),
                               key="play_feature")
        st.plotly_chart(charts.positive_share_by(frame, feature), key="play_share")
        if run.truth is not None:
            truth = pd.Series(run.truth)
            st.plotly_chart(charts.confusion_matrix_figure(truth, frame["label"]), key="play_cm")
            st.plotly_chart(charts.roc_figure(truth, frame["probability"]), key="play_roc")
