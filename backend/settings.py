"""The student's saved choices (target, region, service name), kept in their local data folder."""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, replace
from typing import Literal

from .aws import Target
from .config import DEFAULT_REGION, user_data_dir
from .names import propose_svc, validate_svc

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabSettings:
    kind: Literal["sandbox", "aws"] = "sandbox"
    region: str = DEFAULT_REGION
    profile: str | None = None
    endpoint_url: str | None = None  # None: $AWS_ENDPOINT_URL or the default sandbox address
    svc: str = ""

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


def load_settings() -> LabSettings:
    """Return the saved settings; on first use (or a damaged file) defaults with a fresh service name, saved."""
    path = settings_path()
    try:
        data = json.loads(path.read_text())
        settings = LabSettings(**{k: v for k, v in data.items() if k in LabSettings.__dataclass_fields__})
        validate_svc(settings.svc)
        return settings
    except FileNotFoundError:
        pass
    except (ValueError, TypeError) as exc:
        log.warning("ignoring unreadable settings %s: %s", path, exc)
    settings = LabSettings(svc=propose_svc())
    save_settings(settings)
    return settings


def save_settings(settings: LabSettings) -> None:
    """Write the settings file (no credentials are ever stored: only the profile's name)."""
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(settings), indent=2))
    tmp.replace(path)
