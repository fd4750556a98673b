"""The model-adapter contract. Adapters turn ``Request`` batches into ``Response`` lists.

An adapter never decodes video itself: the runner's one video pipeline (``mosseval.video``) hands it
``Frames`` (uint8 RGB array + the indices actually used), so every backend sees identical pixels.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Literal

from mosseval.records import ErrorInfo, GenerationSpec, ModelIdentity, Sample, TaskSpec, Usage
from mosseval.video import Frames

__all__ = ["Frames", "ModelAdapter", "Request", "Response"]


@dataclass
class Request:
    sample: Sample
    task: TaskSpec
    messages: list[dict[str, Any]]
    """Chat messages in the Hugging Face multimodal format, e.g.
    ``[{"role": "system", "content": [{"type": "text", "text": ...}]},
       {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": ...}]}]``.
    The ``{"type": "video"}`` entry marks where the frames go."""
    frames: Frames | None
    generation: GenerationSpec
    prefill: str | None = None
    """Text the assistant turn starts with; adapters must continue from it and return only
    the continuation (the scorer knows the prefill)."""
    seed: int = 0
    video_path: str | None = None
    """Absolute path of the sample's video (file or frame folder) resolved onto the task's data
    root, for backends that decode video themselves (``lmms`` with ``visual=video``); optional."""


@dataclass
class Response:
    text: str | None
    usage: Usage | None = None
    error: ErrorInfo | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    frames_as: Literal["video", "images"] | None = None
    """How the adapter passed the request's frames to the model (recorded in the sample's frame info)."""


class ModelAdapter(ABC):
    """Base class for every backend."""

    name: str = "model"
    backend: str = "base"
    needs_frames: bool = True
    batch_size: int = 1

    def identity(self) -> dict[str, Any]:
        """Everything about the model that changes its outputs (enters the run hash)."""
        return {"name": self.name, "backend": self.backend}

    def describe(self) -> ModelIdentity:
        """The model for people (checkpoint name, revision, parameter count), recorded in run.json and
        shown by the leaderboard. The default reads :meth:`identity`; adapters that know more (the
        parameter count) override it."""
        return ModelIdentity.from_identity(self.identity(), self.name, self.backend)

    @abstractmethod
    def generate(self, requests: list[Request]) -> list[Response]:
        """Return one ``Response`` per request, in order. Per-request failures are returned as
        ``Response(text=None, error=ErrorInfo(...))``; raising aborts the run (saved work stays)."""

    def close(self) -> None:  # noqa: B027  # pragma: no cover - default no-op, override to free resources
        pass
