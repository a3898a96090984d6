"""Instructor monitoring: the whole class's lab resources, progress, cost, and a tag-guarded cleanup.

- snapshot: `collect()` reads the account with a fixed set of listing and tagging calls (one
  paginated listing per resource type, never a describe per student) into a ClassSnapshot;
- naming: whose a resource is, by its tags or by a lab name (rules derived from LabNames);
- overview: `overview()` turns the snapshot into a students × exercises table, each exercise
  judging the State it builds from the listings with its own checks;
- detail: `student_detail()` runs the real checks for one student;
- cleanup: `cleanup_plan()` & co. plan deletions over the snapshot, `apply_cleanup()` carries them
  out through the tag-guarded deleter (backend/deleter.py);
- seed: `seed_class()` fills a sandbox with a class at mixed stages.
Text for the command line lives with the CLI (backend/cli_format.py).
"""
from __future__ import annotations

from .cleanup import (CleanupResult, PlannedDeletion, apply_cleanup, cleanup_plan, current_tags,
                      delete_endpoints_plan, stop_idle_instances_plan)
from .detail import LambdaError, StudentDetail, student_detail
from .naming import NO_STUDENT, owner_of
from .overview import (CELL_ICONS, EXERCISE_NUMBERS, EXERCISE_TITLES, SNAPSHOT_CHECKS, STUCK_AFTER_MIN, Cell,
                       ClassOverview, StudentRow, judge, overview, student_view)
from .seed import SEED_PREFIX, SEED_STAGES, seed_class, seed_student, seed_students
from .snapshot import (ENDPOINT_BILLING, INSTANCE_BILLING, SERVICES, TAG_SEEDED, CallCounter, ClassSnapshot, Resource,
                       collect)

__all__ = [
    "CELL_ICONS", "ENDPOINT_BILLING", "EXERCISE_NUMBERS", "EXERCISE_TITLES", "INSTANCE_BILLING", "NO_STUDENT",
    "SEED_PREFIX", "SEED_STAGES", "SERVICES", "SNAPSHOT_CHECKS", "STUCK_AFTER_MIN", "TAG_SEEDED",
    "CallCounter", "Cell", "ClassOverview", "ClassSnapshot", "CleanupResult", "LambdaError", "PlannedDeletion",
    "Resource", "StudentDetail", "StudentRow",
    "apply_cleanup", "cleanup_plan", "collect", "current_tags", "delete_endpoints_plan", "judge", "overview",
    "owner_of", "seed_class", "seed_student", "seed_students", "stop_idle_instances_plan", "student_detail",
    "student_view",
]
