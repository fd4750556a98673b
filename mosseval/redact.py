"""The one redactor: secrets never reach files, logs, pages or the console.

Everything mosseval writes or prints that can carry user-supplied values (model args, URLs, the
command line, imported result files) passes through these functions.
"""

from __future__ import annotations

import re
from typing import Any

SECRET_KEYS = re.compile(r"(api[_-]?key|secret|passw(or)?d|authorization|bearer|credential|^token$|_token$)", re.I)
"""Keys whose values are secrets (model args, headers, config entries)."""


def clean_url(url: str) -> str:
    """``scheme://host[:port]/path`` without credentials, query or fragment."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(str(url))
    except ValueError:
        return "<invalid url>"
    if not parts.scheme or not parts.hostname:
        return str(url).split("?", 1)[0].split("@")[-1]
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path.rstrip('/')}"


def redact_mapping(args: dict[str, Any]) -> dict[str, Any]:
    """Drop secret-looking keys and credentials in URLs before anything is written or logged."""
    return {k: (clean_url(v) if "url" in k.lower() and isinstance(v, str) and "@" in v else v)
            for k, v in args.items() if not SECRET_KEYS.search(k)}


_ARG_SECRET = re.compile(r"(api[_-]?key|token|secret|password)", re.I)


def redact_argv(argv: list[str]) -> list[str]:
    """A command line with secret option values and ``key=value`` secrets replaced by ``***``."""
    red: list[str] = []
    hide_next = False
    for a in argv:
        if hide_next:
            red.append("***")
            hide_next = False
            continue
        if _ARG_SECRET.search(a):
            if "=" in a:
                red.append(re.sub(r"((?:api[_-]?key|token|secret|password)[^=,]*=)[^,]*", r"\1***", a, flags=re.I))
            else:
                red.append(a)
                hide_next = a.startswith("--")
            continue
        red.append(a)
    return red
