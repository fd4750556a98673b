"""mkdocs hook: expand ``<!-- mosseval:generate ... -->`` markers with reference text generated from
the code (CLI, exit codes, record schemas, tasks). See ``mosseval/docgen.py``."""

from __future__ import annotations


def on_page_markdown(markdown, page, config, files):  # noqa: ARG001 - mkdocs hook signature
    from mosseval.docgen import expand_markers

    return expand_markers(markdown)
