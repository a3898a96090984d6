"""Widgets every page shares: the lab context, step runner, progress checks and the S3 browser.

Pages stay thin: they call these with backend objects; no AWS logic lives here.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, replace
from typing import Callable

import pandas as pd
import streamlit as st

from backend import s3
from backend.aws import Aws, Target
from backend.errors import LabError, explain
from backend.identity import Identity, whoami
from backend.lab import (CheckResult, Exercise, ExerciseProgress, StepResult, exclusive, LabContext, Option, PlannedStep, Step, apply_teardown, plan,
                         progress, run_checks, teardown_plan)
from backend import i18n
from backend.i18n import N_, _, ngettext
from backend.settings import LabSettings, SettingsDamaged, load_settings, save_settings

SETUP_PAGE = "pages/setup.py"
GUIDE_PAGE = "pages/guide.py"
PLAYGROUND_PAGE = "pages/playground.py"


def tr(text: str) -> str:
    """A constant marked with N_() (a step's title, an option's help), in the page's language.

    An empty text stays empty: gettext("") would return the catalog's header.
    """
    return _(text) if text else text


@st.cache_resource
def aws_for(target: Target) -> Aws:
    """One boto3 facade per target for the whole server (its clients are thread-safe)."""
    return Aws(target)


def settings() -> LabSettings:
    """Return this browser session's settings, loaded once from the student's settings file.

    A damaged file is reported (kept aside by the backend) and yields settings without a service
    name, so every page sends the student to Setup instead of inventing a new name.
    """
    if "lab_settings" not in st.session_state:
        try:
            st.session_state["lab_settings"] = load_settings()
            st.session_state.pop("lab_settings_problem", None)
        except SettingsDamaged as err:
            st.session_state["lab_settings_problem"] = err.message
            return LabSettings()
    return st.session_state["lab_settings"]


PROGRESS_ICONS = {"done": ":material/check_circle:", "started": ":material/pending:", "todo": ":material/radio_button_unchecked:"}
PROGRESS_SECONDS = 10


@st.cache_data(ttl=PROGRESS_SECONDS, show_spinner=False)
def _progress(target: Target, svc: str) -> dict[int, ExerciseProgress]:
    from backend.exercises import EXERCISES

    ctx = LabContext(aws_for(target), svc)
    return {n: progress(ctx, ex) for n, ex in EXERCISES.items()}


def lab_progress() -> dict[int, ExerciseProgress]:
    """Each exercise's progress from live checks (cached a few seconds); {} when not connected or no name yet."""
    current = settings()
    if not current.svc:
        return {}
    try:
        return _progress(current.target(), current.svc)
    except Exception:  # not connected: the pages say why; the menu just shows no marks
        return {}


def progress_changed() -> None:
    """Forget cached progress and checks after an action, so menus and pages show the state as it is now."""
    _progress.clear()
    _checks.clear()


def next_step_link(exercise: Exercise) -> None:
    """The end of an exercise page: where to go next, from the live progress."""
    from backend.exercises import EXERCISES

    st.divider()
    nxt = exercise.number + 1
    status = lab_progress().get(exercise.number)
    if status is not None and status.status != "done":
        st.info(_("{passed} of {total} checks of this exercise pass: finish the steps above (the checks "
                  "follow as you go).").format(passed=status.passed, total=status.total),
                icon=":material/flag:")
    if nxt in EXERCISES:
        page_link(EXERCISE_PAGES[nxt], _("Next: exercise {number} · {title}").format(
            number=nxt, title=tr(EXERCISES[nxt].title)), ":material/arrow_forward:")
    else:
        page_link(PLAYGROUND_PAGE, _("Next: compare every deployment in the prediction playground"),
                  ":material/arrow_forward:")


EXERCISE_PAGES = {1: "pages/ex1_credentials.py", 2: "pages/ex2_s3.py", 3: "pages/ex3_lambda.py",
                  4: "pages/ex4_ec2.py", 5: "pages/ex5_sagemaker.py"}


def language() -> str:
    """The page's language: a `?lang=it` / `?lang=en` link, else the choice saved in the sidebar, else the browser's.

    The link's language is remembered for the browser session: Streamlit drops the parameter when the
    student moves to another page, and the next page must not fall back to the browser's language.
    """
    linked = i18n.normalize(st.query_params.get("lang"))
    if linked:
        st.session_state["lang_link"] = linked
    return (st.session_state.get("lang_link") or settings().language
            or i18n.normalize(st.context.locale) or i18n.DEFAULT_LANGUAGE)


def _language_chosen() -> None:
    """The student picked a language in the sidebar: use it now, and save it with the other settings."""
    chosen = st.session_state.get("lang_switch")
    if not chosen:  # the segmented control was clicked off: nothing chosen, the language stays
        return
    saved = settings()
    new = replace(saved, language=chosen)
    st.session_state["lab_settings"] = new  # this session speaks it from this run on
    if saved.svc:  # never save settings without a name: Setup saves the choice with the name
        save_settings(new)
    st.session_state.pop("lang_link", None)  # the switch now decides, not the link the session began with
    if "lang" in st.query_params:
        del st.query_params["lang"]


def language_switch() -> None:
    """The sidebar's language switch; a choice is saved with the other settings (it persists across restarts).

    Only a click changes the language (a callback, run before the page): the control is set to the
    language in use on every run, so a link's language is never mistaken for a choice and saved.
    """
    current = i18n.current()
    if st.session_state.get("lang_switch") != current:
        st.session_state["lang_switch"] = current
    st.sidebar.segmented_control(_("Language"), list(i18n.LANGUAGES), format_func=i18n.LANGUAGES.get,
                                 key="lang_switch", on_change=_language_chosen)


def option_key(exercise: Exercise, option: Option) -> str:
    return f"ex{exercise.number}_opt_{option.name}"


def lab_context(exercise: Exercise | None = None) -> LabContext:
    """Return the LabContext of the current settings and the exercise's options as chosen on its page."""
    current = settings()
    options = {}
    if exercise is not None:
        options = {o.name: st.session_state[option_key(exercise, o)] for o in exercise.options
                   if st.session_state.get(option_key(exercise, o)) not in (None, "")}
    return LabContext(aws_for(current.target()), current.svc, options)


def options_panel(exercise: Exercise, ctx: LabContext, expanded: bool = False) -> None:
    """The exercise's declared options as widgets (the CLI takes the same ones as --option NAME=VALUE)."""
    if not exercise.options:
        return
    with st.expander(_("Options"), expanded=expanded, key=f"ex{exercise.number}_options_expander"):
        for option in exercise.options:
            key = option_key(exercise, option)
            label, help_text = tr(option.label), tr(option.help) or None
            if option.kind is bool:
                st.checkbox(label, value=bool(option.get(ctx)), help=help_text, key=key)
            elif option.choices:
                current = option.get(ctx)
                st.selectbox(label, option.choices, index=option.choices.index(current)
                             if current in option.choices else 0, help=help_text, key=key)
            else:
                try:
                    default = str(option.get(ctx))
                except Exception as exc:  # e.g. the public address could not be found: the student types it
                    default = ""
                    st.caption(explain(exc, ctx.aws.target.endpoint_url).message)
                st.text_input(label, value=default, help=help_text, key=key)


@st.cache_data(ttl=30, show_spinner=False)
def _identity(target: Target) -> Identity:
    return whoami(aws_for(target))


def identity_or_error(target: Target) -> tuple[Identity | None, LabError | None]:
    """Return (identity, None) if the target answers, else (None, the error to show)."""
    try:
        return _identity(target), None
    except Exception as exc:  # shown to the user, never a traceback
        return None, explain(exc, target.endpoint_url)


def require_connection(exercise: Exercise | None = None) -> LabContext:
    """Return the lab context, or explain what is wrong and stop the page."""
    current = settings()
    if not current.svc:
        st.error(st.session_state.get("lab_settings_problem") or _("No service name yet: choose one in Setup."))
        page_link(SETUP_PAGE, _("Open Setup"), ":material/settings:")
        st.stop()
    ctx = lab_context(exercise)
    _identity_found, error = identity_or_error(ctx.aws.target)
    if error is not None:
        st.error(error.message)
        page_link(SETUP_PAGE, _("Open Setup"), ":material/settings:")
        st.stop()
    return ctx


def page_link(path: str, label: str, icon: str | None = None) -> None:
    """A link to another page; nothing when that page is not in the navigation (not built, or a page test)."""
    from streamlit.errors import StreamlitPageNotFoundError

    try:
        st.page_link(path, label=label, icon=icon)
    except StreamlitPageNotFoundError:
        pass


def show_error(exc: BaseException, ctx: LabContext | None = None) -> None:
    """Show any exception as the sentence the backend maps it to."""
    endpoint = ctx.aws.target.endpoint_url if ctx else None
    st.error(explain(exc, endpoint).message)


@dataclass(frozen=True)
class StepFailure:
    """A failed action, remembered so it stays visible (red) after the page reruns."""

    label: str
    message: str
    lines: tuple[str, ...]  # the progress it had written

    def show(self) -> None:
        st.error(_("**{label} — failed.** {message}").format(label=self.label, message=self.message),
                 icon=":material/error:")
        if self.lines:
            st.code("\n".join(self.lines), language="text")


def run_with_status(label: str, action: Callable[[Callable[[str], None]], object], ctx: LabContext | None = None,
                    failure_key: str | None = None):
    """Run action(on_progress) inside an st.status box; return its result, or None after showing the error.

    With failure_key the failure is also kept in the session, so it is still shown after a rerun.
    """
    lines: list[str] = []

    def write(line: str) -> None:
        lines.append(line)
        status.write(line)

    with st.status(label, expanded=False) as status:
        try:
            result = action(write)
        except Exception as exc:
            status.update(label=_("{label} — failed").format(label=label), state="error", expanded=True)
            endpoint = ctx.aws.target.endpoint_url if ctx else None
            message = explain(exc, endpoint).message
            st.error(message)
            if failure_key:
                st.session_state[failure_key] = StepFailure(label, message, tuple(lines))
            return None
        status.update(label=_("{label} — done").format(label=label), state="complete")
    return result


PLAN_WORDS = {"create": (N_("Will create"), ":material/add_circle:"), "update": (N_("Will update"), ":material/sync:"),
              "none": (N_("Nothing to do"), ":material/check_circle:"),
              "refuse": (N_("Will refuse"), ":material/block:")}


def step_panel(exercise: Exercise, index: int, step: Step, ctx: LabContext, planned: PlannedStep | None = None) -> None:
    """One step: explanation, what it would do now (the dry run), the code it runs, the button, the result.

    A remembered result is shown only while it is still true (see drop_untrue_results).
    """
    key = f"ex{exercise.number}_{step.id}"
    title = tr(step.title)
    st.subheader(_("Step {index} · {title}").format(index=index, title=title))
    st.markdown(tr(step.explain))
    if planned is not None:
        word, icon = PLAN_WORDS[planned.action]
        word = _(word)
        if planned.action == "refuse":
            st.error(f"{word}: {planned.reason}", icon=icon)
        else:
            st.caption(f"{icon} **{word}:** {planned.reason}")
    with st.expander(_("What this button runs"), expanded=False, key=f"{key}_code_expander"):
        st.code(step.code(ctx), language="python")
    if st.button(title, key=f"{key}_run", type="primary"):
        def run(progress):
            with exclusive(ctx, exercise.number):
                return step.run(ctx, progress)

        result = run_with_status(title, run, ctx, failure_key=f"{key}_result")
        if result is not None:
            st.session_state[f"{key}_result"] = result
        st.session_state.pop(f"{key}_basis", None)  # the new result's basis is read on the rerun
        progress_changed()
        st.rerun()  # plans, checks and the menu are read again after the change
    result = st.session_state.get(f"{key}_result")
    if isinstance(result, StepFailure):
        result.show()
    elif result is not None:
        (st.success if result.changed else st.info)(result.summary, icon=":material/check_circle:")
        if result.details:
            with st.expander(_("Details"), expanded=False, key=f"{key}_details_expander"):
                st.json(result.details)


@st.cache_data(ttl=PROGRESS_SECONDS, show_spinner=False)
def _checks(target: Target, svc: str, number: int, options: tuple, language: str) -> list[CheckResult]:
    from backend.exercises import get_exercise

    i18n.set_language(language)  # the results' sentences are cached per language
    return run_checks(LabContext(aws_for(target), svc, dict(options)), get_exercise(number))


def checks_panel(exercise: Exercise, ctx: LabContext) -> None:
    """'Check my progress': the exercise's checks on the account as it is now (read again every few seconds)."""
    key = f"ex{exercise.number}_checks"
    st.subheader(_("Check my progress"))
    st.caption(_("The checks read your account as it is now: they pass however you did the work."))
    if st.button(_("Check again"), key=f"{key}_run"):
        _checks.clear()
        progress_changed()
    try:
        results = _checks(ctx.aws.target, ctx.svc, exercise.number, tuple(sorted(ctx.options.items())),
                          i18n.current())
    except Exception as exc:
        show_error(exc, ctx)
        return
    passed = sum(bool(r.passed) for r in results)
    st.progress(passed / len(results), text=_("{passed} of {total} checks pass").format(passed=passed,
                                                                                         total=len(results)))
    for r in results:
        line = f"**{tr(r.title)}** — {r.observed}"
        if r.passed:
            st.success(line, icon=":material/check:")
        else:
            hint = "\n\n" + _("Hint: {hint}").format(hint=r.hint) if r.hint else ""
            st.error(line + hint, icon=":material/close:")


def live_panel(key: str, every: float, render: Callable[[], bool]) -> None:
    """A panel that reads itself again every `every` seconds while what it shows is changing, then stops.

    `render()` draws the panel and returns True while something changes (an instance starting, an
    endpoint being created, a function running). When that flips the whole page reruns, so steps,
    checks and the menu follow, and the periodic refresh starts or stops.
    """
    flag = f"{key}_changing"

    @st.fragment(run_every=every if st.session_state.get(flag, False) else None)
    def live() -> None:
        i18n.set_language(language())  # a fragment's own rerun skips dashboard.py, which sets the language
        changing = bool(render())
        if changing != st.session_state.get(flag, False):
            st.session_state[flag] = changing
            st.rerun()

    live()


def page_just_opened() -> bool:
    """True on the first run of a page after the student came to it from another page (set by dashboard.py)."""
    return bool(st.session_state.pop("page_opened", False))


def account_label(ctx: LabContext) -> str:
    """Which account an action touches, as a destructive button must say it."""
    identity, _error = identity_or_error(ctx.aws.target)
    where = ctx.aws.target.describe()
    return _("account {account} ({where})").format(account=identity.account, where=where) if identity else where


def confirmed_button(label: str, what: str, ctx: LabContext, key: str, disabled: bool = False,
                     container=None) -> bool:
    """A destructive button that asks first: says exactly what goes and from which account; True once confirmed."""
    box = container or st
    if box.button(label, key=key, disabled=disabled):
        st.session_state[f"{key}_asking"] = True
    if not st.session_state.get(f"{key}_asking") or disabled:
        return False
    st.warning(_("{what} — from {account}. This cannot be undone.").format(what=what, account=account_label(ctx)),
               icon=":material/warning:")
    yes, no = st.columns(2)
    if yes.button(_("Yes, {action}").format(action=label.lower()), key=f"{key}_yes", type="primary"):
        st.session_state.pop(f"{key}_asking", None)
        return True
    if no.button(_("Cancel"), key=f"{key}_no"):
        st.session_state.pop(f"{key}_asking", None)
        st.rerun()
    return False


def deletion_table(plan: list) -> pd.DataFrame:
    """A teardown or cleanup plan as a table: what, whose, what will be done, why."""
    # Kinds and names are AWS's; the words around them follow the page's language.
    return pd.DataFrame({"": [_("delete") if d.allowed else _("keep") for d in plan],
                         _("kind"): [d.kind for d in plan], _("name"): [d.name for d in plan],
                         _("action"): [tr(d.action) if d.allowed else _("left alone") for d in plan],
                         _("why"): [d.why for d in plan]})


def teardown_panel(exercise: Exercise, ctx: LabContext) -> None:
    """Clean-up: the list of what would go (a dry run), a confirmation naming the account, then the deleter."""
    if exercise.teardown is None:
        return
    key = f"ex{exercise.number}_teardown"
    with st.expander(_("Clean up this exercise"), expanded=False, key=f"{key}_expander"):
        report = st.session_state.pop(f"{key}_report", None)
        if report:
            failed = [r for r in report if r.status == "failed"]
            (st.error if failed else st.success)(
                _("Clean-up: {deleted} deleted, {skipped} left alone, {failed} failed.").format(
                    deleted=sum(r.status == "done" for r in report), skipped=sum(r.status == "skipped" for r in report),
                    failed=len(failed)))
            for r in failed:
                st.error(f"{r.kind} {r.name}: {r.message}")
        try:
            deletions = teardown_plan(ctx, exercise)
        except Exception as exc:
            show_error(exc, ctx)
            return
        if not deletions:
            st.info(_("Nothing of this exercise exists for your service name."))
            return
        allowed = [d for d in deletions if d.allowed]
        st.write(_("Only resources tagged for **{svc}** are deleted; their tags are read again right before "
                   "each deletion. Your local downloads stay.").format(svc=ctx.svc))
        st.dataframe(deletion_table(deletions), hide_index=True, width="stretch")
        confirm = st.checkbox(ngettext("Yes, delete this {n} resource from {account}",
                                       "Yes, delete these {n} resources from {account}",
                                       len(allowed)).format(n=len(allowed), account=account_label(ctx)),
                              key=f"{key}_confirm", disabled=not allowed)
        if st.button(_("Delete"), key=f"{key}_run", disabled=not (confirm and allowed), type="primary"):
            results = run_with_status(
                _("Cleaning up"), lambda progress: apply_teardown(ctx, exercise, deletions, progress), ctx)
            st.session_state.pop(f"{key}_confirm", None)
            _checks.clear()
            progress_changed()
            if results is not None:
                for step in exercise.steps:
                    st.session_state.pop(f"ex{exercise.number}_{step.id}_result", None)
                st.session_state[f"{key}_report"] = results
                st.rerun()


def drop_untrue_results(exercise: Exercise, planned: dict[str, PlannedStep]) -> None:
    """Forget a step's remembered success once what it stood on is gone.

    Its basis is the steps whose resources existed (plan other than "create") when the page first
    showed the result. Once the step itself, or one of those, would create again, the result goes:
    "the endpoint answered" is not true after the endpoint is deleted, though querying creates nothing.
    A step run before an earlier one (a bucket before the downloads) keeps its result.
    """
    if not planned:  # the plan could not be read (the page says why): nothing is known to be gone
        return
    in_place: set[str] = set()
    for step in exercise.steps:
        key = f"ex{exercise.number}_{step.id}"
        now = planned.get(step.id)
        if now is not None and now.action != "create":
            in_place.add(step.id)
        result = st.session_state.get(f"{key}_result")
        if not isinstance(result, StepResult):
            st.session_state.pop(f"{key}_basis", None)
            continue
        basis = st.session_state.setdefault(f"{key}_basis", frozenset(in_place))
        if (now is not None and now.action == "create") or not basis <= in_place:
            st.session_state.pop(f"{key}_result")
            st.session_state.pop(f"{key}_basis")


def exercise_page(exercise: Exercise, extra: Callable[[LabContext], None] | None = None,
                  before: Callable[[LabContext], None] | None = None) -> None:
    """The standard exercise page: intro, options, (before), every step with its plan, extra content, checks, cleanup."""
    st.title(_("Exercise {number} · {title}").format(number=exercise.number, title=tr(exercise.title)))
    ctx = require_connection(exercise)
    st.caption(_("Service name **{svc}** · {target}").format(svc=ctx.svc, target=ctx.aws.target.describe()))
    st.markdown(tr(exercise.intro))
    page_link(GUIDE_PAGE, _("What this exercise teaches, and the handout's mistakes: the lab guide"),
              ":material/menu_book:")
    options_panel(exercise, ctx)
    ctx = lab_context(exercise)  # with the options as just chosen
    if before is not None:
        before(ctx)
    try:
        planned = {p.step: p for p in plan(ctx, exercise)}
    except Exception as exc:  # the steps still show; their buttons explain the same error
        show_error(exc, ctx)
        planned = {}
    drop_untrue_results(exercise, planned)
    for index, step in enumerate(exercise.steps, 1):
        st.divider()
        step_panel(exercise, index, step, ctx, planned.get(step.id))
    if extra is not None:
        st.divider()
        extra(ctx)
    st.divider()
    checks_panel(exercise, ctx)
    teardown_panel(exercise, ctx)
    next_step_link(exercise)


def record_fields(record: dict, choices: dict[str, list[str]], key: str) -> dict:
    """The 12 model features as inputs in three columns, started from `record`; returns the values entered.

    Numbers stay inside the range the EC2 API accepts; categories offer the known values and accept others
    (the model scores unknown categories). Call inside an st.form.
    """
    from backend.artifacts import FEATURE_RANGES, FEATURES, NUMERIC_FEATURES

    values = {}
    columns = st.columns(3)
    for i, feature in enumerate(FEATURES):
        cell = columns[i % 3]
        if feature in NUMERIC_FEATURES:
            low, high = FEATURE_RANGES[feature]
            values[feature] = cell.number_input(feature, min_value=low, max_value=high,
                                                value=int(record[feature] or low), step=1, key=f"{key}_{feature}")
        else:
            current = str(record[feature] or "")
            options = sorted(set(choices.get(feature, [])) | {current})
            values[feature] = cell.selectbox(feature, options, index=options.index(current),
                                             accept_new_options=True, key=f"{key}_{feature}")
    return values


PREVIEW_BYTES = 256 * 1024


def s3_browser(ctx: LabContext, key: str, buckets: list[str] | None = None) -> None:
    """Browse buckets and objects (size, date), preview a CSV, download an object."""
    try:
        names = buckets if buckets is not None else [b.name for b in s3.list_buckets(ctx.aws)]
    except Exception as exc:
        show_error(exc, ctx)
        return
    if not names:
        st.info(_("No buckets yet."))
        return
    bucket = st.selectbox(_("Bucket"), names, key=f"{key}_bucket")
    try:
        objects = s3.list_objects(ctx.aws, bucket) if s3.bucket_exists(ctx.aws, bucket) else None
    except Exception as exc:
        show_error(exc, ctx)
        return
    if objects is None:
        st.info(_("Bucket {bucket} does not exist yet.").format(bucket=bucket))
        return
    if not objects:
        st.info(_("Bucket {bucket} is empty.").format(bucket=bucket))
        return
    table = pd.DataFrame({_("key"): [o.key for o in objects], _("size (bytes)"): [o.size for o in objects],
                          _("last modified"): [o.last_modified for o in objects]})
    st.dataframe(table, hide_index=True, width="stretch", key=f"{key}_objects")
    chosen = st.selectbox(_("Object"), [o.key for o in objects], key=f"{key}_object")
    size = next(o.size for o in objects if o.key == chosen)
    try:
        head = s3.read_object(ctx.aws, bucket, chosen, max_bytes=min(size, PREVIEW_BYTES)) if size else b""
    except Exception as exc:
        show_error(exc, ctx)
        return
    if chosen.lower().endswith(".csv"):
        _csv_preview(head, truncated=size > PREVIEW_BYTES)
    if size <= 50 * 1024 * 1024:
        if st.button(_("Prepare download"), key=f"{key}_prepare"):
            st.session_state[f"{key}_data"] = (chosen, s3.read_object(ctx.aws, bucket, chosen))
        prepared = st.session_state.get(f"{key}_data")
        if prepared and prepared[0] == chosen:
            st.download_button(_("Download {name}").format(name=chosen), prepared[1], file_name=chosen.rsplit("/", 1)[-1],
                               key=f"{key}_download")


def _csv_preview(head: bytes, truncated: bool) -> None:
    text = head.decode("utf-8", errors="replace")
    if truncated:  # drop the partial last line of a range read
        text = text.rsplit("\n", 1)[0]
    try:
        frame = pd.read_csv(io.StringIO(text), nrows=200, dtype=str, keep_default_na=False)
    except Exception as exc:  # a broken CSV is worth showing as such
        st.warning(_("Not readable as CSV: {error}").format(error=exc))
        return
    caption = ngettext("Preview: first {n} row", "Preview: first {n} rows", len(frame)).format(n=len(frame))
    if truncated:
        caption = _("{preview} (file truncated for preview)").format(preview=caption)
    st.caption(caption)
    st.dataframe(frame, hide_index=True, width="stretch")
