"""Find a task's data locally. Nothing is ever downloaded.

Candidate roots of a non-synthetic task, in order:

1. ``--data-dir`` joined with ``data.path``, then ``--data-dir`` itself (so both the parent folder
   and the dataset folder can be given);
2. the task's own environment variable (``data.env``, e.g. ``$MOSSEVAL_MVBENCH_DIR``);
3. ``$MOSSEVAL_DATA_DIR`` joined with ``data.path``, then ``$MOSSEVAL_DATA_DIR`` itself;
4. the Hugging Face hub cache (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else
   ``~/.cache/huggingface/hub``): every snapshot of ``datasets--<org>--<name>``, the one of
   ``refs/main`` first, then the other refs (e.g. MVBench's ``video`` branch), then the rest;
5. the dataset caches other tools leave under ``$HF_HOME`` (``LMMS_CACHES``, e.g. lmms-eval's
   ``mvbench_video``).

The first candidate that actually *holds the task's data* wins, as its loader's ``holds_data`` hook
says (for MVBench a ``json/<subtask>.json``, for MMVU ``validation.json`` or its parquet, for a JSONL
task its file; for a loader without the hook any existing folder). A miss raises ``DataNotFoundError`` listing every place looked at (saying which
exist but hold something else) and how to obtain the data.
"""

from __future__ import annotations

import os
from pathlib import Path

from mosseval.errors import DataNotFoundError
from mosseval.paths import DATA_ENV, cache_dir
from mosseval.records import TaskSpec

LMMS_CACHES: dict[str, tuple[str, ...]] = {
    "OpenGVLab/MVBench": ("mvbench_video", "mvbench"),
    "yale-nlp/MMVU": ("mmvu",),
    "lmms-lab/Video-MME": ("videomme",),
}
"""Folders under ``$HF_HOME`` where lmms-eval style tools unpack these datasets."""


def hf_home() -> Path:
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "huggingface"


def hf_cache_root() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path.home() / ".cache" / "huggingface" / "hub"


def hf_repo_folder(repo_id: str, repo_type: str = "datasets") -> Path:
    return hf_cache_root() / f"{repo_type}--{repo_id.replace('/', '--')}"


def hf_snapshots(repo_id: str, repo_type: str = "datasets") -> list[tuple[str, Path]]:
    """Local snapshot folders of a Hub repo as (label, path): ``refs/main`` first, then the other
    refs (branches such as ``video``), then unreferenced snapshots, newest first."""
    folder = hf_repo_folder(repo_id, repo_type)
    snaps = folder / "snapshots"
    if not snaps.is_dir():
        return []
    out: list[tuple[str, Path]] = []
    seen: set[Path] = set()
    refs = folder / "refs"
    names: list[str] = []
    if refs.is_dir():
        names = sorted((p.relative_to(refs).as_posix() for p in refs.rglob("*") if p.is_file()),
                       key=lambda n: (n != "main", n))
    for name in names:
        try:
            rev = (refs / name).read_text(encoding="utf-8").strip()
        except OSError:
            continue
        cand = snaps / rev
        if rev and cand.is_dir() and cand not in seen:
            seen.add(cand)
            out.append((f"Hugging Face cache ({repo_id}@{name})", cand))
    rest = sorted((p for p in snaps.iterdir() if p.is_dir() and p not in seen),
                  key=lambda p: p.stat().st_mtime, reverse=True)
    out += [(f"Hugging Face cache ({repo_id}@{p.name[:12]})", p) for p in rest]
    return out


def hf_snapshot(repo_id: str, repo_type: str = "datasets") -> Path | None:
    """Snapshot of ``refs/main`` (else the newest), or None (no network access)."""
    snaps = hf_snapshots(repo_id, repo_type)
    return snaps[0][1] if snaps else None


def holds_data(task: TaskSpec, path: Path) -> bool:
    """Whether ``path`` contains what the task's loader reads (cheap checks, no parsing)."""
    if not path.is_dir():
        return False
    from mosseval.data import loader_holds_data

    check = loader_holds_data(task.loader or "")
    return True if check is None else bool(check(task, path))


def candidate_roots(task: TaskSpec, data_dir: str | os.PathLike | None) -> list[tuple[str, Path]]:
    rel = task.data.path or ""
    out: list[tuple[str, Path]] = []
    if data_dir:
        base = Path(data_dir).expanduser()
        if rel:
            out.append(("--data-dir", base / rel))
        out.append(("--data-dir", base))
    if task.data.env and os.environ.get(task.data.env):
        out.append((f"${task.data.env}", Path(os.environ[task.data.env]).expanduser()))
    if os.environ.get(DATA_ENV):
        base = Path(os.environ[DATA_ENV]).expanduser()
        if rel:
            out.append((f"${DATA_ENV}", base / rel))
        out.append((f"${DATA_ENV}", base))
    if task.data.hf_repo:
        snaps = hf_snapshots(task.data.hf_repo)
        out += snaps or [("Hugging Face cache", hf_repo_folder(task.data.hf_repo))]
        for name in LMMS_CACHES.get(task.data.hf_repo, ()):
            out.append(("lmms-eval cache", hf_home() / name))
    unique: list[tuple[str, Path]] = []
    seen: set[Path] = set()
    for label, path in out:
        if path not in seen:
            seen.add(path)
            unique.append((label, path))
    return unique


def _synthetic_copy(task: TaskSpec, path: Path, seed: int | None) -> Path | None:
    """``--data-dir`` given for the generated benchmark. A folder holding a generated copy
    (``manifest.json`` naming it) is used, once it checks against its manifest and, for a run, was
    generated with the run's seed (the run records its seed; runs of one seed are comparable only with
    each other; ``seed`` None accepts any: training). A problem stops with one line. A folder holding
    no copy (the data of other tasks in a multi-task run) is not this task's: None, the cache's copy."""
    import json

    from mosseval.data import synth

    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("name") != synth.NAME:
        return None
    fix = (f"generate one with `mosseval data synth --seed {seed or 0} --out DIR`, or leave out --data-dir "
           "to use the cache")
    problems = synth.check_dataset(path, n_test=synth.DEFAULT_N_TEST)
    if problems:
        raise DataNotFoundError(f"{task.name}: --data-dir {path} is not a sound {synth.NAME} copy: {problems[0]}",
                                hint=fix)
    found = manifest.get("seed")  # check_dataset verified this manifest against the files
    if seed is not None and found != seed:
        raise DataNotFoundError(f"{task.name}: --data-dir {path} was generated with seed {found}, but the run's "
                                f"--seed is {seed}", hint=f"pass --seed {found}, or generate seed {seed}")
    return path


def resolve_data_root(
    task: TaskSpec,
    data_dir: str | os.PathLike | None = None,
    cache: str | os.PathLike | None = None,
    *,
    seed: int | None = 0,
    generate: bool = True,
) -> Path:
    """Return the folder holding the task's data (generating the synthetic benchmark if asked)."""
    if task.data.synthetic:
        from mosseval.data import synth

        copy = _synthetic_copy(task, Path(data_dir).expanduser(), seed) if data_dir is not None else None
        if copy is not None:
            return copy
        root = cache_dir(cache) / "data"
        seed = seed or 0
        if generate:
            return synth.ensure_mini(root, seed)
        path = root / f"moss-video-mini-seed{seed}"
        if (path / "manifest.json").is_file():
            return path
        raise DataNotFoundError(f"{task.name}: not generated yet in {path}",
                                hint="it is generated on first `mosseval run`, or by `mosseval data synth`")
    tried = candidate_roots(task, data_dir)
    for _, path in tried:
        if holds_data(task, path):
            return path
    lines = []
    for label, path in tried:
        note = " (exists, but holds no data for this task)" if path.is_dir() else ""
        lines.append(f"  - {label}: {path}{note}")
    if not lines:
        lines = ["  - nowhere: no --data-dir given and no environment variable set"]
    how = task.data.obtain or "obtain the dataset and pass its folder with --data-dir"
    env_hint = f" (or set ${task.data.env} / ${DATA_ENV})" if task.data.env else f" (or set ${DATA_ENV})"
    raise DataNotFoundError(
        f"data for task {task.name!r} not found. Looked in:\n" + "\n".join(lines),
        hint=how + env_hint + "; nothing is downloaded at run time",
    )
