"""What the OSC server and its job queue need from the objects they are handed, as small Protocols.

:class:`~audioldm_daw.engine.engine.Engine` and :class:`~audioldm_daw.bridge.server.audition.Audition` satisfy
them (tests/test_typing.py has the type checker prove it); so can a test's stand-in, without inheriting
from anything. Nothing here is imported at run time beyond ``typing``: the engine and audition types are
for the type checker only, so importing this module costs no torch.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import torch

    from audioldm_daw.bridge.server.audition import OutputDevice, Playback
    from audioldm_daw.engine.engine import RenderResult
    from audioldm_daw.engine.request import GenerateRequest
    from audioldm_daw.engine.sampling import CancelFn, ProgressFn


class ServedModel(Protocol):
    """The loaded model as the server reports it (``/audioldm/status``, ``/audioldm/pong``)."""

    @property
    def model_id(self) -> str: ...

    @property
    def path(self) -> Path: ...

    @property
    def device(self) -> torch.device: ...


class EnginePort(Protocol):
    """The engine as the server checks requests with it and the job queue renders with it."""

    @property
    def model(self) -> ServedModel: ...

    def check(self, request: GenerateRequest) -> None:
        """Raise InvalidRequest / EngineError for a request this engine cannot serve; generate nothing."""
        ...

    def render(
        self,
        request: GenerateRequest,
        out_path: str | PathLike[str],
        progress: ProgressFn | None = None,
        cancel: CancelFn | None = None,
    ) -> RenderResult:
        """Generate ``request`` and write ``out_path`` and its sidecar."""
        ...


class AuditionPort(Protocol):
    """Playback on the engine machine; every call returns at once with a Future the audio thread resolves."""

    def devices(self, rescan: bool = True) -> Future[list[OutputDevice]]: ...

    def select(self, which: int | str) -> Future[OutputDevice]: ...

    def play(
        self, path: str | Path, label: str | None = None, on_end: Callable[[Playback], None] | None = None
    ) -> Future[Playback]: ...

    def stop(self) -> Future[str]: ...

    def close(self) -> None: ...
