"""Render a board into ONE self-contained HTML file.

The page is a jinja2 template from the packaged ``reports/`` folder with the CSS, the JavaScript and
the board data inlined: no CDN, no external font or image, opens from ``file://`` offline. A
Content-Security-Policy allows only the inlined script and style (by hash) and ``data:`` images, so
even a hypothetical injection could neither run script nor load anything from the network.

Untrusted text (model names, questions, model output) travels only inside a
``<script type="application/json">`` block in which ``<``, ``>``, ``&`` and U+2028/2029 are written
as ``\\uXXXX`` escapes, so ``</script>`` or ``<!--`` in a generation cannot end the block; the page's
script puts every string into the DOM with ``textContent``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mosseval.fileio import atomic_writer
from mosseval.leaderboard.records import Board

TEMPLATE = "leaderboard.html.j2"


def json_for_html(data: Any) -> str:
    """JSON that is safe inside ``<script type="application/json">`` (no ``<``, ``>``, ``&`` literals)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _csp_hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def _asset(name: str) -> Path:
    """A file of the page's packaged assets; a missing one is an incomplete installation (exit 5), not a bug."""
    from mosseval.errors import MissingDependencyError
    from mosseval.paths import resource_dir

    try:
        path = resource_dir("reports") / name
    except FileNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise MissingDependencyError(f"mosseval's installation is incomplete: the leaderboard asset reports/{name} "
                                     "is missing",
                                     hint="reinstall mosseval (pip install --force-reinstall mosseval), or restore the "
                                     "file in a source checkout (git checkout -- reports/)")
    return path


def _read_asset(name: str) -> str:
    text = _asset(name).read_text(encoding="utf-8")
    low = text.lower()
    if "</script" in low or "</style" in low or "<!--" in low:
        raise ValueError(f"reports/{name} must not contain </script, </style or <!--")
    return text


def iter_page_json(board: Board, samples_per_run: int) -> Iterator[str]:
    """The page's data (:func:`page_data`) as :func:`json_for_html` writes it, piece by piece, one embedded
    sample at a time: the samples are never all unpacked, nor the whole text held, at once (a 50-run board
    embeds 5,000)."""
    head = board.model_dump(mode="json", exclude={"samples": True, "runs": {"__all__": {"packages"}}})
    yield json_for_html(head)[:-1] + ',"samples":{"runs":{'
    used: set[str] = set()
    thumbs: set[str] = set()
    for n, (rid, views) in enumerate(board.samples.runs.items()):
        yield ("," if n else "") + json_for_html(rid) + ":["
        for i, v in enumerate(views[: max(0, samples_per_run)]):
            s = v.data()
            used.add(s["item"])
            if s.get("frames") and s["frames"].get("thumbnails"):
                thumbs.add(s["frames"]["thumbnails"])
            yield ("," if i else "") + json_for_html(s)
        yield "]"
    yield '},"items":{'
    first = True
    for k, v in board.samples.items.items():
        if k in used:
            yield ("" if first else ",") + json_for_html(k) + ":" + json_for_html(v.data())
            first = False
    yield '},"thumbnails":{'
    first = True
    for k, ts in board.samples.thumbnails.items():
        if k in thumbs:
            yield ("" if first else ",") + json_for_html(k) + ":" + json_for_html([t.model_dump(mode="json") for t in ts])
            first = False
    yield "}}}"


def page_json(board: Board, samples_per_run: int) -> str:
    """:func:`iter_page_json` as one string."""
    return "".join(iter_page_json(board, samples_per_run))


def page_data(board: Board, samples_per_run: int) -> dict[str, Any]:
    """The board as the page reads it (``Board`` dumped to JSON), without the package lists and with at
    most ``samples_per_run`` embedded samples per run (and only the items and thumbnails they use)."""
    return json.loads(page_json(board, samples_per_run))


def render_html(board: Board, out: str | os.PathLike, samples_per_run: int = 100) -> Path:
    """Write the self-contained leaderboard page to ``out`` and return its path.

    ``samples_per_run`` caps the per-sample records embedded per run (the board holds at most what
    ``build_leaderboard`` selected). Raises ``OutputError`` when ``out`` cannot be written.
    """
    import jinja2
    from markupsafe import Markup

    css = _read_asset("leaderboard.css")
    js = _read_asset("leaderboard.js")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(_asset(TEMPLATE).parent)),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    marker = f"\x00board-data-{secrets.token_hex(8)}\x00"  # where the data block goes (streamed in)
    html = env.get_template(TEMPLATE).render(
        title=board.title,
        version=board.mosseval_version,
        schema_version=board.schema_version,
        settings_overall=board.settings.overall,
        alpha=board.settings.alpha,
        samples_per_run=samples_per_run,
        css=Markup(css),
        js=Markup(js),
        style_hash=_csp_hash(css),
        script_hash=_csp_hash(js),
        data_json=Markup(marker),
    )
    before, after = html.split(marker)  # exactly once: the template has one data block
    with atomic_writer(out, hint="choose a writable location with -o/--output") as fh:
        fh.write_text(before)
        for part in iter_page_json(board, samples_per_run):
            fh.write_text(part)
        fh.write_text(after)
    return Path(out)


__all__ = ["render_html", "json_for_html", "page_data", "page_json", "iter_page_json"]
