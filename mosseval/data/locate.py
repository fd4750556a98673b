"""Find a task's data locally. Nothing is ever downloaded.

Search order for a non-synthetic task (first existing folder wins):
1. ``--data-dir`` joined with ``data.path`` (and ``--data-dir`` itself when it already is that folder),
2. the task's own environment variable (``data.env``),
3. ``$MOSSEVAL_DATA_DIR`` joined with ``data.path``,
4. the Hugging Face hub cache snapshot of ``data.hf_repo`` (``$HF_HUB_CACHE`` / ``$HF_HOME/hub``).
A miss raises ``DataNotFoundError`` listing every place looked at and how to obtain the data.
"""

from __future__ import annotations

import os
from pathlib import Path

from mosseval.errors import DataNotFoundError
from mosseval.paths import DATA_ENV, cache_dir
from mosseval.records import TaskSpec


def hf_cache_root() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path.home() / ".cache" / "huggingface" / "hub"


def hf_snapshot(repo_id: str, repo_type: str = "datasets") -> Path | None:
    """Newest local snapshot folder of a Hub repo, or None (no network access)."""
    folder = hf_cache_root() / f"{repo_type}--{repo_id.replace('/', '--')}"
    snaps = folder / "snapshots"
    if not snaps.is_dir():
        return None
    ref = folder / "refs" / "main"
    if ref.is_file():
        cand = snaps / ref.read_text().strip()
        if cand.is_dir():
            return cand
    dirs = sorted((p for p in snaps.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    return dirs[-1] if dirs else None


def candidate_roots(task: TaskSpec, data_dir: str | os.PathLike | None) -> list[tuple[str, Path]]:
    rel = task.data.path or ""
    out: list[tuple[str, Path]] = []
    if data_dir:
        base = Path(data_dir).expanduser()
        out.append(("--data-dir", base / rel if rel else base))
        if rel and base.name == Path(rel).name:
            out.append(("--data-dir", base))
    if task.data.env and os.environ.get(task.data.env):
        out.append((f"${task.data.env}", Path(os.environ[task.data.env]).expanduser()))
    if os.environ.get(DATA_ENV):
        base = Path(os.environ[DATA_ENV]).expanduser()
        out.append((f"${DATA_ENV}", base / rel if rel else base))
    if task.data.hf_repo:
        snap = hf_snapshot(task.data.hf_repo)
        where = snap if snap is not None else hf_cache_root() / f"datasets--{task.data.hf_repo.replace('/', '--')}"
        out.append(("Hugging Face cache", where))
    return out


def resolve_data_root(
    task: TaskSpec,
    data_dir: str | os.PathLike | None = None,
    cache: str | os.PathLike | None = None,
    *,
    seed: int = 0,
    generate: bool = True,
) -> Path:
    """Return the folder holding the task's data (generating the synthetic benchmark if asked)."""
    if task.data.synthetic:
        from mosseval.data import synth

        root = cache_dir(cache) / "data"
        if generate:
            return synth.ensure_mini(root, seed)
        path = root / f"moss-video-mini-seed{seed}"
        if (path / "manifest.json").is_file():
            return path
        raise DataNotFoundError(f"{task.name}: not generated yet in {path}",
                                hint="it is generated on first `mosseval run`, or by `mosseval data synth`")
    tried = candidate_roots(task, data_dir)
    for _, path in tried:
        if path.is_dir():
            return path
    lines = [f"  - {label}: {path}" for label, path in tried] or [
        "  - nowhere: no --data-dir given and no environment variable set"]
    how = task.data.obtain or "obtain the dataset and pass its folder with --data-dir"
    raise DataNotFoundError(
        f"data for task {task.name!r} not found. Looked in:\n" + "\n".join(lines),
        hint=how + f" (or set ${DATA_ENV}); nothing is downloaded at run time",
    )
