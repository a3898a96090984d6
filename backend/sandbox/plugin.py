"""What a compute plug-in (Lambda, EC2, SageMaker) and the sandbox see of each other.

A module of its own so that the plug-ins never import server.py, which imports them: the import
graph of backend.sandbox stays acyclic (tests/sandbox/test_structure.py).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .moto_hooks import Patches


class SandboxView(Protocol):
    """The running sandbox as compute sees it (server.Sandbox implements it)."""

    patches: Patches  # moto hooks applied through moto_hooks go here: the sandbox undoes them on stop

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def url(self) -> str: ...

    def client(self, service: str, region: str | None = None) -> Any:
        """A boto3 client for the sandbox (the sandbox's own credentials)."""


class Compute(Protocol):
    """What moto does not run (Lambda, EC2, SageMaker), plugged into a Sandbox.

    `start` is called once the server answers (sandbox.url is known) and before the course bucket
    is seeded; it applies its moto hooks through moto_hooks and starts its workers. `stop` undoes
    all of it; it is called in reverse order of start, before the server stops. `info` is
    published under `compute.<name>` by the health route (e.g. addresses clients must resolve).
    """

    name: str

    def start(self, sandbox: SandboxView) -> None: ...

    def stop(self) -> None: ...

    def info(self) -> dict[str, Any]: ...
