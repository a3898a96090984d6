"""The command line: `mlops-lab …` / `python -m backend …` (README, Command line). Every command can print one JSON document."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from .aws import Target
from .cli_format import format_overview, format_plan, format_results
from .config import COURSE_DIR, DEFAULT_REGION, DEFAULT_SANDBOX_PORT
from .errors import LabError, explain
from .i18n import N_, _, ngettext, number
from .logconfig import setup_logging
from .local_model import BadInput
from .names import InvalidServiceName

EXIT_OK, EXIT_CHECKS_FAILED, EXIT_USAGE, EXIT_AWS = 0, 1, 2, 3
EXIT_CODES = N_("""\
exit codes:
  0  ok
  1  checks failed (lab check)
  2  usage error (unknown exercise, step or option, no service name)
  3  AWS or sandbox error (one line on stderr says what to do)""")
# What a step would do, in `lab run --plan` (the values are PlannedStep.action).
PLAN_ACTIONS = {"create": N_("create"), "update": N_("update"), "none": N_("none"), "refuse": N_("refuse")}


class UsageError(Exception):
    """The command line asks for something that does not exist: exit 2."""


class Out:
    """Where a command writes: progress lines (stderr under --json) and one final result."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def progress(self, line: str) -> None:
        print(line, file=sys.stderr if self.as_json else sys.stdout, flush=True)

    def result(self, doc: Any, text: str | None = None) -> None:
        if self.as_json:
            print(json.dumps(_jsonable(doc), indent=2, default=str))
        elif text:
            print(text)


def _jsonable(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def target_from_args(args: argparse.Namespace) -> Target:
    """Return the target the flags name: real AWS only when asked (--aws or --profile), else the sandbox."""
    if args.aws or args.profile:
        return Target.aws(profile=args.profile, region=args.region)
    return Target.sandbox(region=args.region or DEFAULT_REGION, endpoint_url=args.endpoint_url)


# ---- commands ---------------------------------------------------------------------------------

def cmd_sandbox(args: argparse.Namespace, out: Out) -> int:
    from .artifacts import build_course
    from .sandbox import serve_forever

    build_course(Path(args.course_dir), on_progress=out.progress)
    serve_forever(port=args.port, course_dir=Path(args.course_dir),
                  on_ready=lambda url: out.progress(_("Sandbox ready at {url} (Ctrl-C stops it)").format(url=url)))
    return 0


def cmd_sandbox_reset(args: argparse.Namespace, out: Out) -> int:
    from .sandbox_control import reset_sandbox

    target = target_from_args(args)
    if not target.is_sandbox:
        raise UsageError(_("sandbox-reset wipes the sandbox; it never runs against a real account."))
    result = reset_sandbox(target, Path(args.course_dir), on_progress=out.progress)
    out.result(result, ngettext("The sandbox at {url} is empty again; the course bucket holds {n} file.",
                                "The sandbox at {url} is empty again; the course bucket holds {n} files.",
                                len(result["files"])).format(url=target.endpoint_url, n=len(result["files"])))
    return EXIT_OK


def cmd_course_build(args: argparse.Namespace, out: Out) -> int:
    from .artifacts import build_course

    report = build_course(Path(args.course_dir), on_progress=out.progress, force=args.force)
    state = _("built") if report.built else _("up to date (nothing to do)")
    out.result(report, _("Course artifacts in {folder}: {state}. Metrics: {metrics}")
               .format(folder=report.out_dir, state=state, metrics=report.metrics))
    return 0


def cmd_course_publish(args: argparse.Namespace, out: Out) -> int:
    from .course import publish_course

    ctx_target = target_from_args(args)
    result = publish_course(ctx_target, args.bucket, Path(args.course_dir), on_progress=out.progress)
    out.result(result, ngettext("Published {n} file to s3://{bucket}.", "Published {n} files to s3://{bucket}.",
                                len(result["files"])).format(n=len(result["files"]), bucket=args.bucket))
    return 0


def format_checks(number: int, title: str, results) -> str:
    """Return one exercise's check results as text lines (PASS / FAIL with the hint), in the current language."""
    lines = [_("Exercise {number}: {title}").format(number=number, title=_(title))]
    passed, failed = _("PASS"), _("FAIL")
    for r in results:
        lines.append(f"  [{passed if r.passed else failed}] {r.title}: {r.observed}")
        if not r.passed and r.hint:
            lines.append("         " + _("hint: {hint}").format(hint=r.hint))
    return "\n".join(lines)


def _svc(args: argparse.Namespace) -> str:
    """Return --svc, else the service name saved in Setup; a usage error when there is neither."""
    if getattr(args, "svc", None):
        return args.svc
    from .settings import saved_svc

    svc = saved_svc()
    if svc is None:
        raise UsageError(_("no service name: pass --svc NAME or save one on the dashboard's Setup page"))
    return svc


def _ctx(args: argparse.Namespace, exercise=None):
    from .lab import LabContext

    options = {}
    if exercise is not None:
        try:
            options = exercise.parse_options(getattr(args, "option", None) or [])
        except ValueError as err:
            raise UsageError(str(err)) from None
    elif getattr(args, "option", None):
        raise UsageError(_("--option needs an exercise number"))
    return LabContext.create(target_from_args(args), _svc(args), **options)


def _exercise_numbers(args: argparse.Namespace) -> list[int]:
    from .exercises import EXERCISES

    if getattr(args, "exercise", None) is None:
        return sorted(EXERCISES)
    _exercise(args.exercise)
    return [args.exercise]


def _exercise(number: int):
    from .exercises import get_exercise

    try:
        return get_exercise(number)
    except KeyError as err:
        raise UsageError(err.args[0]) from None


def cmd_lab_run(args: argparse.Namespace, out: Out) -> int:
    from .lab import apply, exclusive, plan

    exercise = _exercise(args.exercise)
    ctx = _ctx(args, exercise)
    try:
        steps = [exercise.step(args.step)] if args.step else list(exercise.steps)
    except KeyError as err:
        raise UsageError(err.args[0]) from None
    if args.plan:  # a real dry run: one read of the account, nothing written
        planned = plan(ctx, exercise, steps)
        words = {action: _(word) for action, word in PLAN_ACTIONS.items()}
        width = max(map(len, words.values()))
        out.result({"exercise": exercise.number, "svc": ctx.svc, "target": ctx.aws.target.describe(),
                    "plan": [p.to_dict() for p in planned]},
                   "\n".join(f"[{i}/{len(planned)}] {words.get(p.action, p.action):>{width}}  {p.title}: {p.reason}"
                             for i, p in enumerate(planned, 1)) + "\n" + _("Dry run: nothing was changed."))
        return 0
    with exclusive(ctx, exercise.number):
        results = apply(ctx, steps, on_progress=out.progress)
    out.result({"exercise": exercise.number, "svc": ctx.svc, "target": ctx.aws.target.describe(),
                "steps": [r.to_dict() for r in results]},
               ngettext("Exercise {number} ({title}): {n} step done.", "Exercise {number} ({title}): {n} steps done.",
                        len(results)).format(number=exercise.number, title=_(exercise.title), n=len(results)))
    return 0


def cmd_lab_check(args: argparse.Namespace, out: Out) -> int:
    from .lab import run_checks

    numbers = _exercise_numbers(args)
    ctx = _ctx(args, _exercise(numbers[0]) if len(numbers) == 1 else None)
    report, failed = [], 0
    for number in numbers:
        exercise = _exercise(number)
        results = run_checks(ctx, exercise)
        failed += sum(not r.passed for r in results)
        report.append({"exercise": number, "title": exercise.title, "checks": [r.to_dict() for r in results]})
        if not out.as_json:
            out.progress(format_checks(number, exercise.title, results))
    total = sum(len(e["checks"]) for e in report)
    out.result({"svc": ctx.svc, "passed": total - failed, "failed": failed, "exercises": report},
               # English says "1 of 5 checks failed."; Italian agrees with the number that failed.
               ngettext("{failed} of {total} checks failed.", "{failed} of {total} checks failed.", failed)
               .format(failed=failed, total=total) if failed else _("All {total} checks passed.").format(total=total))
    return EXIT_CHECKS_FAILED if failed else EXIT_OK


def cmd_lab_teardown(args: argparse.Namespace, out: Out) -> int:
    from .lab import apply_teardown, teardown_plan

    numbers = sorted(_exercise_numbers(args), reverse=True)  # later exercises depend on earlier ones
    ctx = _ctx(args, _exercise(numbers[0]) if len(numbers) == 1 else None)
    plans = {n: teardown_plan(ctx, _exercise(n)) for n in numbers}
    everything = [d for n in numbers for d in plans[n]]
    if not args.yes:
        out.result({"dry_run": True, "svc": ctx.svc, "target": ctx.aws.target.describe(), "plan": everything},
                   format_plan(everything) + "\n" + _("Dry run: nothing was deleted. Add --yes to carry it out."))
        return EXIT_OK
    results = []
    for n in numbers:
        results += apply_teardown(ctx, _exercise(n), plans[n], out.progress)
    out.result({"dry_run": False, "svc": ctx.svc, "target": ctx.aws.target.describe(), "results": results},
               format_results(results))
    if any(r.status == "failed" for r in results):
        raise LabError(_("some resources could not be removed (see above)"), "TeardownFailed")
    return EXIT_OK


def cmd_predict(args: argparse.Namespace, out: Out) -> int:
    from .local_model import records_from_csv
    from .predict import predict

    if args.record is not None:
        try:
            records = json.loads(args.record)
        except json.JSONDecodeError as exc:
            raise UsageError(_("--record is not valid JSON: {error}").format(error=exc)) from exc
    else:
        path = Path(args.csv)
        if not path.exists():
            raise UsageError(_("{path}: no such file.").format(path=path))
        records = records_from_csv(path.read_bytes(), path.name)
    ctx = _ctx(args)
    result = predict(ctx, args.target, records, on_progress=out.progress)
    rows = [{"label": p.label, "probability": round(p.probability, 6)} for p in result.predictions]
    positive = sum(p.label == ">50K" for p in result.predictions)
    summary = (ngettext("{target}: {n} prediction in {ms} ms", "{target}: {n} predictions in {ms} ms", len(rows))
               .format(target=args.target, n=number(len(rows)), ms=number(round(result.seconds * 1000)))
               + (f" ({result.detail})" if result.detail else "")
               + "; " + _("{positive} predicted >50K.").format(positive=number(positive)))
    if not out.as_json:
        for row in rows[:20]:
            print(f"{row['label']:>6}  {number(row['probability'], 4)}")
        if len(rows) > 20:
            print(_("… {n} more").format(n=number(len(rows) - 20)))
    out.result({"target": args.target, "seconds": result.seconds, "detail": result.detail,
                "predictions": rows}, summary)
    return 0


def cmd_monitor(args: argparse.Namespace, out: Out) -> int:
    from . import monitor
    from .aws import Aws

    view = monitor.overview(monitor.collect(Aws(target_from_args(args))), stuck_after_min=args.stuck_after)
    out.result(view.to_dict(), format_overview(view))
    return 0


def cmd_monitor_cleanup(args: argparse.Namespace, out: Out) -> int:
    from . import monitor
    from .aws import Aws

    aws = Aws(target_from_args(args))
    plan = monitor.cleanup_plan(aws, args.student)
    if not args.yes:
        out.result({"dry_run": True, "plan": plan},
                   format_plan(plan) + "\n" + _("Dry run: nothing was deleted. Add --yes to carry it out."))
        return 0
    results = monitor.apply_cleanup(aws, plan, out.progress)
    out.result({"dry_run": False, "results": results}, format_results(results))
    if any(r.status == "failed" for r in results):
        raise LabError(_("some resources could not be removed (see above)"), "CleanupFailed")
    return 0


def cmd_monitor_seed(args: argparse.Namespace, out: Out) -> int:
    from . import monitor
    from .aws import Aws

    target = target_from_args(args)
    if not target.is_sandbox:
        raise UsageError(_("seed-class fills the sandbox with a demo class; it never runs against a real account."))
    students = monitor.seed_class(Aws(target), args.students, out.progress)
    out.result({"students": students}, ngettext("Seeded {n} student ({first} … {last}).",
                                                "Seeded {n} students ({first} … {last}).", len(students))
               .format(n=len(students), first=students[0], last=students[-1]))
    return 0


# ---- parser -------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help=_("print one JSON document (accepted anywhere)"))
    common.add_argument("-v", "--verbose", action="count", default=0,
                        help=_("log what happens (-vv: more), with timestamps, on stderr (accepted anywhere)"))
    common.add_argument("--aws", action="store_true", help=_("use a real AWS account (default: the sandbox)"))
    common.add_argument("--profile", help=_("AWS profile (implies --aws)"))
    common.add_argument("--region",
                        help=_("AWS region (default {region} or the profile's)").format(region=DEFAULT_REGION))
    common.add_argument("--endpoint-url",
                        help=_("sandbox endpoint (default $AWS_ENDPOINT_URL or http://127.0.0.1:4566)"))

    parser = argparse.ArgumentParser(prog="mlops-lab",
                                     description=_("MLOps-on-AWS lab: sandbox, course, lab. (Also: python -m backend.)"),
                                     epilog=_(EXIT_CODES), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("sandbox", parents=[common], help=_("run the embedded local AWS in the foreground"))
    p.add_argument("--port", type=int, default=DEFAULT_SANDBOX_PORT)
    p.add_argument("--course-dir", default=str(COURSE_DIR))
    p.set_defaults(func=cmd_sandbox)

    p = sub.add_parser("sandbox-reset", parents=[common],
                       help=_("forget everything in the running sandbox and seed the course bucket again"))
    p.add_argument("--course-dir", default=str(COURSE_DIR))
    p.set_defaults(func=cmd_sandbox_reset)

    course = sub.add_parser("course", help=_("course artifacts")).add_subparsers(dest="course_command", required=True)
    p = course.add_parser("build", parents=[common], help=_("build the course artifacts (cached)"))
    p.add_argument("--force", action="store_true", help=_("rebuild even if up to date"))
    p.add_argument("--course-dir", default=str(COURSE_DIR))
    p.set_defaults(func=cmd_course_build)
    p = course.add_parser("publish", parents=[common], help=_("put the course artifacts in a bucket"))
    p.add_argument("--bucket", required=True)
    p.add_argument("--course-dir", default=str(COURSE_DIR))
    p.set_defaults(func=cmd_course_publish)

    lab = sub.add_parser("lab", help=_("run, check or undo the exercises")).add_subparsers(dest="lab_command",
                                                                                           required=True)
    p = lab.add_parser("run", parents=[common], help=_("run an exercise's steps"))
    p.add_argument("exercise", type=int)
    p.add_argument("--svc", help=_("your service name (default: the one saved in Setup)"))
    p.add_argument("--step", help=_("run only this step id"))
    p.add_argument("--plan", action="store_true",
                   help=_("dry run: what each step would do now (create/update/none, why, its code); change nothing"))
    p.add_argument("--option", action="append", metavar="NAME=VALUE", help=_("an exercise option (repeatable)"))
    p.set_defaults(func=cmd_lab_run)
    p = lab.add_parser("check", parents=[common], help=_("check my progress"))
    p.add_argument("exercise", type=int, nargs="?")
    p.add_argument("--svc", help=_("your service name (default: the one saved in Setup)"))
    p.add_argument("--option", action="append", metavar="NAME=VALUE", help=_("an exercise option (repeatable)"))
    p.set_defaults(func=cmd_lab_check)
    p = lab.add_parser("teardown", parents=[common],
                       help=_("list what the lab created for you (dry run); remove it with --yes"))
    p.add_argument("exercise", type=int, nargs="?")
    p.add_argument("--svc", help=_("your service name (default: the one saved in Setup)"))
    p.add_argument("--option", action="append", metavar="NAME=VALUE", help=_("an exercise option (repeatable)"))
    p.add_argument("--yes", action="store_true", help=_("carry it out (default: dry run)"))
    p.set_defaults(func=cmd_lab_teardown)
    p = sub.add_parser("monitor", parents=[common], help=_("class overview (instructors)"))
    p.add_argument("--stuck-after", type=float, default=30.0,
                   help=_("minutes without progress that count as stuck"))
    p.set_defaults(func=cmd_monitor)
    monitor = p.add_subparsers(dest="monitor_command")
    q = monitor.add_parser("cleanup", parents=[common], help=_("remove one student's tagged resources"))
    q.add_argument("--student", required=True)
    q.add_argument("--yes", action="store_true", help=_("carry it out (default: dry run)"))
    q.set_defaults(func=cmd_monitor_cleanup)
    q = monitor.add_parser("seed-class", parents=[common], help=_("fill the sandbox with a demo class"))
    q.add_argument("--students", type=int, default=30)
    q.set_defaults(func=cmd_monitor_seed)

    p = sub.add_parser("predict", parents=[common], help=_("score records on a deployment of the model"))
    p.add_argument("--target", choices=["local", "lambda", "ec2", "sagemaker"], default="local")
    p.add_argument("--svc", help=_("your service name (default: the one saved in Setup)"))
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--record", help=_("a JSON object (or list) with the 12 features"))
    source.add_argument("--csv", help=_("a CSV file with the 12 feature columns"))
    p.set_defaults(func=cmd_predict)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mlops-aws-lab")
    except PackageNotFoundError:  # run from the source tree without installing
        import tomllib

        with open(Path(__file__).resolve().parent.parent / "pyproject.toml", "rb") as fh:
            return tomllib.load(fh)["project"]["version"]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in argv  # accepted anywhere on the line, before or after the sub-command
    argv = [a for a in argv if a != "--json"]
    # -v / -vv / --verbose: also accepted anywhere
    verbose = [a for a in argv if a == "--verbose" or (a.startswith("-v") and a.strip("v") == "-")]
    argv = [a for a in argv if a not in verbose]
    verbosity = sum(1 if a == "--verbose" else len(a) - 1 for a in verbose)
    setup_logging(verbosity)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.json, args.verbose = as_json, verbosity
    out = Out(as_json)
    try:
        return args.func(args, out)
    except KeyboardInterrupt:
        return 130
    except (UsageError, InvalidServiceName, BadInput) as exc:  # what the command line said is wrong
        print(_("error: {message}").format(message=exc.args[0] if exc.args else exc), file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # the boundary: one line, never a traceback
        endpoint = None
        if not (getattr(args, "aws", False) or getattr(args, "profile", None)):
            endpoint = Target.sandbox(endpoint_url=getattr(args, "endpoint_url", None)).endpoint_url
        err: LabError = explain(exc, endpoint)
        print(_("error: {message}").format(message=err.message), file=sys.stderr)
        return EXIT_AWS
