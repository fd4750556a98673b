"""Put a reproduction's REPORT.md into the tutorial's results section (never typed by hand).

    python scripts/repro_docs.py runs/repro-mini/REPORT.md

Rewrites the part of ``docs/tutorials/reproduce-mosschatv.md`` between ``<!-- RESULTS -->`` and
``<!-- /RESULTS -->`` with the report: its title dropped, its headings one level down, its links to
the training reports (relative to the reproduction's folder) shown as text, and the command that
made it.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

PAGE = Path(__file__).resolve().parent.parent / "docs" / "tutorials" / "reproduce-mosschatv.md"
START, END = "<!-- RESULTS -->", "<!-- /RESULTS -->"


def section(report: str, command: str) -> str:
    lines = report.strip().splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    out = []
    for line in lines:
        if line.startswith("#"):
            line = "#" + line  # one level down: the page has its own title
        out.append(re.sub(r"\[[^\]]+\]\((train/[^)]+)\)", r"`\1`", line))
    body = "\n".join(out).strip()
    return f"{START}\n\nGenerated from the run's `REPORT.md` by `python scripts/repro_docs.py` (command: `{command}`).\n\n{body}\n\n{END}"


def fill(page: Path, report: str, command: str) -> str:
    text = page.read_text(encoding="utf-8")
    if START not in text:
        raise SystemExit(f"{page}: no {START} marker")
    head, _, rest = text.partition(START)
    _, found, tail = rest.partition(END)
    new = head + section(report, command) + (tail if found else "\n")
    page.write_text(new, encoding="utf-8")
    return new


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", type=Path, help="REPORT.md written by `mosseval repro mini`")
    ap.add_argument("--page", type=Path, default=PAGE)
    ap.add_argument("--command", default="mosseval repro mini -o runs/repro-mini --seeds 0,1,2")
    a = ap.parse_args(argv)
    if not a.report.is_file():
        print(f"{a.report}: not found (run `mosseval repro mini` first)", file=sys.stderr)
        return 6
    text = a.report.read_text(encoding="utf-8")
    # no absolute paths of this machine in the docs: the reproduction's folder as the command names it
    text = text.replace(str(a.report.resolve().parent) + "/", "runs/repro-mini/")
    fill(a.page, text, a.command)
    print(f"wrote the results of {a.report} into {a.page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
