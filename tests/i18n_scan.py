"""Find user-facing text that is not marked for translation (used by tests/test_i18n.py; runnable by hand).

`python -m tests.i18n_scan [FILE …]` lists, file:line, every string literal or f-string that reaches
a user-facing sink without `_()` / `N_()` / `ngettext()`. Sinks:
- in pages and dashboard.py: Streamlit's text and widget calls (first argument and label-like keywords),
  on `st` or on any container (`left.button(…)`, `status.update(label=…)`);
- everywhere: the constructors of what the backend shows (CheckResult, StepResult, LabError and the
  other errors, Decision helpers, Step, Check, Option, Exercise, PlannedStep) and `on_progress(…)` calls.
A literal counts as text when it holds a word of two or more letters; icons (":material/…:"), pure
markup and code blocks (st.code, st.json) are not text.
"""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKERS = {"_", "N_", "ngettext"}
STREAMLIT_TEXT = {
    "title", "header", "subheader", "caption", "markdown", "write", "text", "info", "success", "warning", "error",
    "toast", "button", "download_button", "form_submit_button", "checkbox", "toggle", "radio", "selectbox",
    "multiselect", "text_input", "text_area", "number_input", "slider", "select_slider", "file_uploader",
    "expander", "status", "metric", "page_link", "segmented_control", "pills", "tabs", "popover", "link_button",
    "progress", "spinner", "update", "chat_input", "date_input", "time_input", "color_picker",
}
LABEL_KEYWORDS = {"label", "help", "placeholder", "text", "body", "caption", "title", "value_label"}
BACKEND_SINKS = {
    "CheckResult": (2, 3, 4), "StepResult": (2,), "Decision": (1,), "create": (0,), "update": (0,), "nothing": (0,),
    "Step": (1, 2), "Check": (1,), "Option": (1, 3), "Exercise": (1, 2), "PlannedStep": (3,), "unseen": (1,),
    "on_progress": (0,), "progress": (0,),
}
BACKEND_KEYWORDS = {"title", "observed", "hint", "summary", "reason", "explain", "label", "help", "intro", "message"}
WORD = re.compile(r"[A-Za-zÀ-ÿ]{2,}")
NOT_TEXT = re.compile(r"^(:material/[a-z_]+:|https?://\S+|[\W\d_]*)$")


def _is_error_class(name: str) -> bool:
    return name.endswith(("Error", "Exception")) or name in ("NotYours", "BucketTaken", "AlreadyRunning",
                                                             "SettingsDamaged", "BadInput", "SandboxNotRunning")


def _text_literal(node: ast.AST) -> bool:
    """A literal (or f-string) holding words: user text unless wrapped in a marker."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return bool(WORD.search(node.value)) and not NOT_TEXT.match(node.value.strip())
    if isinstance(node, ast.JoinedStr):
        parts = "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
        return bool(WORD.search(parts))
    if isinstance(node, ast.BinOp):  # "a" + "b", "a %s" % x
        return _text_literal(node.left) or _text_literal(node.right)
    if isinstance(node, ast.IfExp):
        return _text_literal(node.body) or _text_literal(node.orelse)
    return False


def _callee(node: ast.Call) -> tuple[str | None, str | None]:
    """(object name, attribute) of a call: st.button -> ("st", "button"); CheckResult -> (None, "CheckResult")."""
    func = node.func
    if isinstance(func, ast.Attribute):
        owner = func.value.id if isinstance(func.value, ast.Name) else None
        return owner, func.attr
    if isinstance(func, ast.Name):
        return None, func.id
    return None, None


def unmarked(path: Path) -> list[str]:
    """Return 'file:line: text' for every user-facing literal in path that is not marked."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_page = path.parts[-2] == "pages" or path.name == "dashboard.py"
    found: list[str] = []

    def report(node: ast.AST) -> None:
        text = ast.get_source_segment(path.read_text(encoding="utf-8"), node) or ""
        found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {text[:90]}")

    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        owner, name = _callee(node)
        if name in MARKERS or name is None:
            continue
        candidates: list[ast.AST] = []
        if is_page and name in STREAMLIT_TEXT and owner not in ("logging", "log", "os", "re", "json", "self"):
            if name not in ("update",) and node.args:
                candidates.append(node.args[0])
            if name in ("radio", "selectbox", "multiselect", "segmented_control", "pills") and len(node.args) > 1:
                pass  # options are values; their display goes through format_func
            candidates += [k.value for k in node.keywords if k.arg in LABEL_KEYWORDS]
            if name == "tabs" and node.args and isinstance(node.args[0], (ast.List, ast.Tuple)):
                candidates += list(node.args[0].elts)
        if name in BACKEND_SINKS:
            candidates += [node.args[i] for i in BACKEND_SINKS[name] if i < len(node.args)]
            candidates += [k.value for k in node.keywords if k.arg in BACKEND_KEYWORDS]
        elif _is_error_class(name) and node.args:
            candidates.append(node.args[0])
        for candidate in candidates:
            if _text_literal(candidate):
                report(candidate)
    return found


def user_facing_files() -> list[Path]:
    """The files whose text users read: pages, the entry point and the backend (not the sandbox)."""
    files = [ROOT / "dashboard.py", *sorted((ROOT / "pages").glob("*.py"))]
    files += [p for p in sorted((ROOT / "backend").rglob("*.py")) if "sandbox" not in p.relative_to(ROOT).parts[:2]]
    return [f for f in files if f.name != "__init__.py" or f.stat().st_size > 0]


if __name__ == "__main__":
    paths = [Path(a).resolve() for a in sys.argv[1:]] or user_facing_files()
    lines = [line for p in paths for line in unmarked(p)]
    print("\n".join(lines) or "all marked")
    print(f"{len(lines)} unmarked", file=sys.stderr)
    sys.exit(1 if lines else 0)
