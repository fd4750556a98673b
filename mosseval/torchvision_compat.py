"""Make ``import torchvision`` work when its compiled operators cannot load.

PyPI's Linux torchvision wheels are CUDA builds. Next to a CPU-only torch their ``_C`` extension
fails to load, and ``import torchvision`` then dies with ``operator torchvision::nms does not
exist``: the package registers *fake* (meta) kernels for ``torchvision::nms`` and
``torchvision::qnms`` unconditionally at import time, and ``torch.library.register_fake`` needs the
operator schema to exist. transformers' Qwen2-VL / Qwen2.5-VL video processors are
torchvision-only, so the whole video path (and even ``TrainingArguments``) breaks.

:func:`ensure_torchvision` fixes exactly that, and only when needed:

* it first tries to load torchvision's own compiled extension; if that works (a GPU machine, a
  matching CPU build) it does nothing else and reports ``"native"``;
* otherwise it defines the two operator schemas torchvision's Python code needs at import time
  (``nms`` and ``qnms``, with the upstream signatures) and registers small pure-PyTorch CPU
  kernels for them, then reports ``"patched"``. torchvision still knows its compiled ops are
  missing (``torchvision.extension._has_ops()`` stays False), so every other compiled op keeps
  raising torchvision's own clear error instead of silently misbehaving;
* ``"absent"`` when torchvision is not installed.

Call it before anything imports torchvision (transformers imports it lazily, so "before importing
transformers" is sufficient). It is idempotent and thread-safe.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
import threading

__all__ = ["ensure_torchvision", "torchvision_status"]

_LOCK = threading.Lock()
_STATUS: str | None = None
_LIBRARY = None  # keeps the torch.library registrations alive for the life of the process

_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}


def torchvision_status() -> str | None:
    """The last result of :func:`ensure_torchvision` in this process (None before the first call)."""
    return _STATUS


def ensure_torchvision() -> str:
    """Make torchvision importable; return ``"native"``, ``"patched"`` or ``"absent"``."""
    global _STATUS
    if _STATUS is not None:
        return _STATUS
    with _LOCK:
        if _STATUS is None:
            _STATUS = _ensure()
        return _STATUS


def _ensure() -> str:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return "absent"
    import torch

    if _op_exists(torch, "nms"):
        # Already registered: torchvision (or its extension) is loaded in this process.
        return "native"
    if _load_native_extension(torch, list(spec.submodule_search_locations)):
        return "native"
    if "torchvision" not in sys.modules:
        # A previous failed ``import torchvision`` can leave submodules behind; drop them so the
        # next import starts clean once the schemas exist.
        for name in [m for m in sys.modules if m.startswith("torchvision.")]:
            del sys.modules[name]
    _register_fallback(torch)
    return "patched"


def _op_exists(torch, name: str) -> bool:
    try:
        getattr(torch.ops.torchvision, name)
        return True
    except (AttributeError, RuntimeError):
        return False


def _load_native_extension(torch, locations: list[str]) -> bool:
    """Load torchvision's ``_C`` library the way torchvision does; False when it cannot load."""
    loader = (importlib.machinery.ExtensionFileLoader, importlib.machinery.EXTENSION_SUFFIXES)
    for location in locations:
        found = importlib.machinery.FileFinder(location, loader).find_spec("_C")
        if found is None or not found.origin or not os.path.exists(found.origin):
            continue
        try:
            torch.ops.load_library(found.origin)
        except (OSError, ImportError, RuntimeError):
            return False
        return _op_exists(torch, "nms")
    return False


def _register_fallback(torch) -> None:
    global _LIBRARY
    lib = torch.library.Library("torchvision", "DEF")
    for schema in _SCHEMAS.values():
        lib.define(schema)
    lib.impl("nms", _nms_cpu, "CPU")
    lib.impl("qnms", _qnms_cpu, "CPU")
    _LIBRARY = lib


def _nms_cpu(dets, scores, iou_threshold: float):
    """Greedy non-maximum suppression with torchvision's semantics (suppress when IoU > threshold)."""
    import torch

    if dets.numel() == 0:
        return torch.empty(0, dtype=torch.long)
    boxes = dets.to(torch.float64)
    x1, y1, x2, y2 = boxes.unbind(1)
    areas = (x2 - x1) * (y2 - y1)
    order = torch.argsort(scores, descending=True, stable=True)
    suppressed = torch.zeros(boxes.shape[0], dtype=torch.bool)
    keep: list[int] = []
    for i in order.tolist():
        if suppressed[i]:
            continue
        keep.append(i)
        w = (torch.minimum(x2[i], x2) - torch.maximum(x1[i], x1)).clamp(min=0)
        h = (torch.minimum(y2[i], y2) - torch.maximum(y1[i], y1)).clamp(min=0)
        inter = w * h
        iou = inter / (areas[i] + areas - inter)
        suppressed |= iou > iou_threshold
    return torch.tensor(keep, dtype=torch.long)


def _qnms_cpu(dets, scores, iou_threshold: float):
    # torchvision passes the integer representations of quantized tensors; IoU is invariant to
    # the shared affine (scale, zero point) map, and score order is preserved, so float NMS on the
    # integer values selects the same boxes.
    return _nms_cpu(dets.double(), scores.double(), iou_threshold)
