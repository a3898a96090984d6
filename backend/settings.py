"""The student's saved choices (target, region, service name), kept in their local data folder."""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal

from .aws import Target
from .config import DEFAULT_REGION, user_data_dir
from .errors import LabError
from .i18n import _
from .names import propose_svc, validate_svc

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabSettings:
    kind: Literal["sandbox", "aws"] = "sandbox"
    region: str = DEFAULT_REGION
    profile: str | None = None
    endpoint_url: str | None = None  # None: $AWS_ENDPOINT_URL or the default sandbox address
    svc: str = ""
    language: str | None = None  # "it" / "en" chosen in the sidebar; None: the browser's

    def target(self) -> Target:
        """Return the Target these settings describe."""
        if self.kind == "aws":
            return Target.aws(profile=self.profile, region=self.region)
        return Target.sandbox(region=self.region, endpoint_url=self.endpoint_url)

    def with_changes(self, **changes) -> "LabSettings":
        """Return a copy with changes; the service name is validated."""
        new = replace(self, **changes)
        validate_svc(new.svc)
        return new


def settings_path():
    return user_data_dir() / "settings.json"


class SettingsDamaged(LabError):
    """The settings file exists but cannot be read: it is kept aside, never silently replaced."""


def _read(path) -> LabSettings:
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(_("not a JSON object"))
    settings = LabSettings(**{k: v for k, v in data.items() if k in LabSettings.__dataclass_fields__})
    validate_svc(settings.svc)
    return settings


def _damaged(path, exc: Exception) -> SettingsDamaged:
    aside = path.with_name(path.name + ".damaged")
    if not aside.exists():  # keep the first damaged copy: it is the one with the student's old name
        shutil.copy2(path, aside)
    log.warning("settings file %s is damaged (%s); a copy is kept as %s", path, exc, aside)
    return SettingsDamaged(_("Your settings file {path} could not be read ({error}). A copy is kept as {copy}. "
                             "Open Setup, enter your service name (the one you used before, so your resources "
                             "stay yours) and save.").format(path=path, error=exc, copy=aside), "SettingsDamaged")


def load_settings() -> LabSettings:
    """Return the saved settings; on first use defaults with a fresh service name, saved.

    A damaged file raises SettingsDamaged (a copy kept aside): a new service name would orphan the
    student's resources, so it is never invented in that case.
    """
    path = settings_path()
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise _damaged(path, exc) from exc
    settings = LabSettings(svc=propose_svc())
    save_settings(settings)
    return settings


def saved_svc() -> str | None:
    """Return the service name saved in Setup, or None when nothing is saved yet (never invents one)."""
    path = settings_path()
    try:
        return _read(path).svc
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise _damaged(path, exc) from exc


def save_settings(settings: LabSettings) -> None:
    """Write the settings file atomically (no credentials are ever stored: only the profile's name).

    A unique temp file in the same folder, fsync, rename: a crash or a second tab saving at the same
    moment leaves either the old file or the new one, never half of one.
    """
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(asdict(settings), indent=2))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
