"""The command line: `python -m backend …` (DESIGN.md, CLI). Every command can print one JSON document."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from .aws import Target
from .config import COURSE_DIR, DEFAULT_REGION, DEFAULT_SANDBOX_PORT
from .errors import LabError, explain
from .names import InvalidServiceName


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
                  on_ready=lambda url: out.progress(f"Sandbox ready at {url} (Ctrl-C stops it)"))
    return 0


def cmd_course_build(args: argparse.Namespace, out: Out) -> int:
    from .artifacts import build_course

    report = build_course(Path(args.course_dir), on_progress=out.progress, force=args.force)
    state = "built" if report.built else "up to date (nothing to do)"
    out.result(report, f"Course artifacts in {report.out_dir}: {state}. Metrics: {report.metrics}")
    return 0


def cmd_course_publish(args: argparse.Namespace, out: Out) -> int:
    from .course import publish_course

    ctx_target = target_from_args(args)
    result = publish_course(ctx_target, args.bucket, Path(args.course_dir), on_progress=out.progress)
    out.result(result, f"Published {len(result['files'])} files to s3://{args.bucket}.")
    return 0


def _ctx(args: argparse.Namespace):
    from .lab import LabContext

    return LabContext.create(target_from_args(args), args.svc)


def _exercise_numbers(args: argparse.Namespace) -> list[int]:
    from .exercises import EXERCISES, get_exercise

    if getattr(args, "exercise", None) is None:
        return sorted(EXERCISES)
    get_exercise(args.exercise)
    return [args.exercise]


def cmd_lab_run(args: argparse.Namespace, out: Out) -> int:
    from .exercises import get_exercise
    from .lab import apply

    ctx = _ctx(args)
    exercise = get_exercise(args.exercise)
    steps = [exercise.step(args.step)] if args.step else list(exercise.steps)
    if args.plan:  # a dry run: what each step would run, with this student's values, and nothing called
        plan = [{"step": s.id, "title": s.title, "code": s.code(ctx)} for s in steps]
        out.result({"exercise": exercise.number, "svc": ctx.svc, "plan": plan},
                   "\n".join(f"# [{i}/{len(plan)}] {p['title']}\n{p['code']}" for i, p in enumerate(plan, 1)))
        return 0
    results = apply(ctx, steps, on_progress=out.progress)
    out.result({"exercise": exercise.number, "svc": ctx.svc, "target": ctx.aws.target.describe(),
                "steps": [r.to_dict() for r in results]},
               f"Exercise {exercise.number} ({exercise.title}): {len(results)} step(s) done.")
    return 0


def cmd_lab_check(args: argparse.Namespace, out: Out) -> int:
    from .exercises import get_exercise
    from .lab import run_checks

    ctx = _ctx(args)
    report, failed = [], 0
    for number in _exercise_numbers(args):
        exercise = get_exercise(number)
        results = run_checks(ctx, exercise)
        failed += sum(not r.passed for r in results)
        report.append({"exercise": number, "title": exercise.title, "checks": [r.to_dict() for r in results]})
        if not out.as_json:
            print(f"Exercise {number}: {exercise.title}")
            for r in results:
                print(f"  [{'PASS' if r.passed else 'FAIL'}] {r.title}: {r.observed}")
                if not r.passed and r.hint:
                    print(f"         hint: {r.hint}")
    total = sum(len(e["checks"]) for e in report)
    out.result({"svc": ctx.svc, "passed": total - failed, "failed": failed, "exercises": report})
    if failed:
        print(f"{failed} of {total} checks failed", file=sys.stderr)
        return 1
    if not out.as_json:
        print(f"All {total} checks passed.")
    return 0


def cmd_lab_teardown(args: argparse.Namespace, out: Out) -> int:
    from .exercises import get_exercise

    ctx = _ctx(args)
    results = []
    for number in sorted(_exercise_numbers(args), reverse=True):  # later exercises depend on earlier ones
        exercise = get_exercise(number)
        if exercise.teardown is not None:
            results.extend(exercise.teardown(ctx, out.progress))
    out.result({"svc": ctx.svc, "steps": [r.to_dict() for r in results]},
               f"Teardown done: {sum(r.changed for r in results)} resource(s) removed.")
    return 0


def cmd_predict(args: argparse.Namespace, out: Out) -> int:
    from .local_model import records_from_csv
    from .predict import predict

    if args.record is not None:
        try:
            records = json.loads(args.record)
        except json.JSONDecodeError as exc:
            raise LabError(f"--record is not valid JSON: {exc}", "BadInput") from exc
    else:
        path = Path(args.csv)
        if not path.exists():
            raise LabError(f"{path}: no such file.", "BadInput")
        records = records_from_csv(path.read_bytes(), path.name)
    ctx = _ctx(args)
    result = predict(ctx, args.target, records, on_progress=out.progress)
    rows = [{"label": p.label, "probability": round(p.probability, 6)} for p in result.predictions]
    positive = sum(p.label == ">50K" for p in result.predictions)
    summary = (f"{args.target}: {len(rows)} prediction(s) in {result.seconds * 1000:.0f} ms"
               + (f" ({result.detail})" if result.detail else "") + f"; {positive} predicted >50K.")
    if not out.as_json:
        for row in rows[:20]:
            print(f"{row['label']:>6}  {row['probability']:.4f}")
        if len(rows) > 20:
            print(f"… {len(rows) - 20} more")
    out.result({"target": args.target, "seconds": result.seconds, "detail": result.detail,
                "predictions": rows}, summary)
    return 0


def cmd_monitor(args: argparse.Namespace, out: Out) -> int:
    from . import monitor
    from .aws import Aws

    view = monitor.overview(monitor.collect(Aws(target_from_args(args))), stuck_after_min=args.stuck_after)
    out.result(view.to_dict(), monitor.format_overview(view))
    return 0


def cmd_monitor_cleanup(args: argparse.Namespace, out: Out) -> int:
    from . import monitor
    from .aws import Aws

    aws = Aws(target_from_args(args))
    plan = monitor.cleanup_plan(aws, args.student)
    if not args.yes:
        out.result({"dry_run": True, "plan": plan},
                   monitor.format_plan(plan) + "\nDry run: nothing was deleted. Add --yes to carry it out.")
        return 0
    results = monitor.apply_cleanup(aws, plan, out.progress)
    out.result({"dry_run": False, "results": results}, monitor.format_results(results))
    if any(r.status == "failed" for r in results):
        print("some resources could not be removed (see above)", file=sys.stderr)
        return 1
    return 0


def cmd_monitor_seed(args: argparse.Namespace, out: Out) -> int:
    from . import monitor
    from .aws import Aws

    target = target_from_args(args)
    if not target.is_sandbox:
        raise LabError("seed-class fills the sandbox with a demo class; it never runs against a real account.",
                       "NotSandbox")
    students = monitor.seed_class(Aws(target), args.students, out.progress)
    out.result({"students": students}, f"Seeded {len(students)} students ({students[0]} … {students[-1]}).")
    return 0


# ---- parser -------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print one JSON document")
    common.add_argument("--aws", action="store_true", help="use a real AWS account (default: the sandbox)")
    common.add_argument("--profile", help="AWS profile (implies --aws)")
    common.add_argument("--region", help=f"AWS region (default {DEFAULT_REGION} or the profile's)")
    common.add_argument("--endpoint-url", help="sandbox endpoint (default $AWS_ENDPOINT_URL or http://127.0.0.1:4566)")

    parser = argparse.ArgumentParser(prog="python -m backend", description="MLOps-on-AWS lab: sandbox, course, lab.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("sandbox", parents=[common], help="run the embedded local AWS in the foreground")
    p.add_argument("--port", type=int, default=DEFAULT_SANDBOX_PORT)
    p.add_argument("--course-dir", default=str(COURSE_DIR))
    p.set_defaults(func=cmd_sandbox)

    course = sub.add_parser("course", help="course artifacts").add_subparsers(dest="course_command", required=True)
    p = course.add_parser("build", parents=[common], help="build the course artifacts (cached)")
    p.add_argument("--force", action="store_true", help="rebuild even if up to date")
    p.add_argument("--course-dir", default=str(COURSE_DIR))
    p.set_defaults(func=cmd_course_build)
    p = course.add_parser("publish", parents=[common], help="put the course artifacts in a bucket")
    p.add_argument("--bucket", required=True)
    p.add_argument("--course-dir", default=str(COURSE_DIR))
    p.set_defaults(func=cmd_course_publish)

    lab = sub.add_parser("lab", help="run, check or undo the exercises").add_subparsers(dest="lab_command", required=True)
    p = lab.add_parser("run", parents=[common], help="run an exercise's steps")
    p.add_argument("exercise", type=int)
    p.add_argument("--svc", required=True, help="your service name")
    p.add_argument("--step", help="run only this step id")
    p.add_argument("--plan", action="store_true", help="print the code each step would run; change nothing")
    p.set_defaults(func=cmd_lab_run)
    p = lab.add_parser("check", parents=[common], help="check my progress")
    p.add_argument("exercise", type=int, nargs="?")
    p.add_argument("--svc", required=True)
    p.set_defaults(func=cmd_lab_check)
    p = lab.add_parser("teardown", parents=[common], help="remove what the lab created")
    p.add_argument("exercise", type=int, nargs="?")
    p.add_argument("--svc", required=True)
    p.set_defaults(func=cmd_lab_teardown)
    p = sub.add_parser("monitor", parents=[common], help="class overview (instructors)")
    p.add_argument("--stuck-after", type=float, default=30.0, help="minutes without progress that count as stuck")
    p.set_defaults(func=cmd_monitor)
    monitor = p.add_subparsers(dest="monitor_command")
    q = monitor.add_parser("cleanup", parents=[common], help="remove one student's tagged resources")
    q.add_argument("--student", required=True)
    q.add_argument("--yes", action="store_true", help="carry it out (default: dry run)")
    q.set_defaults(func=cmd_monitor_cleanup)
    q = monitor.add_parser("seed-class", parents=[common], help="fill the sandbox with a demo class")
    q.add_argument("--students", type=int, default=30)
    q.set_defaults(func=cmd_monitor_seed)

    p = sub.add_parser("predict", parents=[common], help="score records on a deployment of the model")
    p.add_argument("--target", choices=["local", "lambda", "ec2", "sagemaker"], default="local")
    p.add_argument("--svc", required=True)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--record", help="a JSON object (or list) with the 12 features")
    source.add_argument("--csv", help="a CSV file with the 12 feature columns")
    p.set_defaults(func=cmd_predict)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    out = Out(getattr(args, "json", False))
    try:
        return args.func(args, out)
    except KeyboardInterrupt:
        return 130
    except (InvalidServiceName, KeyError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the boundary: one line, never a traceback
        endpoint = None
        if not (getattr(args, "aws", False) or getattr(args, "profile", None)):
            endpoint = Target.sandbox(endpoint_url=getattr(args, "endpoint_url", None)).endpoint_url
        err: LabError = explain(exc, endpoint)
        print(f"error: {err.message}", file=sys.stderr)
        return 1
