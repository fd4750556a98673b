"""A fake third-party distribution on disk: a package plus a ``.dist-info`` with ``entry_points.txt``.

Put its folder on ``sys.path`` (or ``PYTHONPATH`` for a subprocess) and ``importlib.metadata`` finds
it exactly like a ``pip install``-ed package, so mosseval's entry-point discovery is exercised for
real (no monkeypatching of the registry).
"""

from __future__ import annotations

import textwrap
from pathlib import Path


def write_distribution(root: Path, name: str, version: str, modules: dict[str, str],
                       entry_points: dict[str, dict[str, str]], requires: list[str] | None = None,
                       summary: str = "") -> Path:
    """Write ``modules`` (dotted name -> source) and a dist-info declaring ``entry_points``
    (group -> {name: value}) and ``requires`` (``Requires-Dist`` lines) under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for dotted, source in modules.items():
        parts = dotted.split(".")
        folder = root.joinpath(*parts[:-1])
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(1, len(parts)):
            init = root.joinpath(*parts[:i], "__init__.py")
            if not init.exists():
                init.write_text("")
        (folder / f"{parts[-1]}.py").write_text(textwrap.dedent(source))
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(exist_ok=True)
    meta = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if summary:
        meta.append(f"Summary: {summary}")
    meta += [f"Requires-Dist: {r}" for r in requires or []]
    (info / "METADATA").write_text("\n".join(meta) + "\n")
    eps = []
    for group, items in entry_points.items():
        eps.append(f"[{group}]")
        eps += [f"{k} = {v}" for k, v in items.items()]
        eps.append("")
    (info / "entry_points.txt").write_text("\n".join(eps))
    (info / "RECORD").write_text("")
    return root
