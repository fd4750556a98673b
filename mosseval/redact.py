"""The one redactor: secrets never reach files, logs, pages or the console.

Everything mosseval writes or prints that can carry user-supplied values (model args, URLs, the
command line, error messages, imported result files, run metadata on the leaderboard) passes
through these functions. What counts as a secret:

* the user-info of a URL (``http://user:password@host``) — removed;
* query parameters whose name carries a credential (``token``, ``key``, ``api_key``, ``apikey``,
  ``secret``, ``password``, ``sig``, ``signature``, ``access_token``, ``auth``, ``credential``,
  ``session``, ``x-amz-*``, …) — value replaced by ``***``;
* ``Authorization`` / ``api-key`` / ``x-api-key`` headers and ``Bearer`` tokens, ``sk-…`` keys;
* ``key=value`` pairs and mapping keys with a secret-looking name (``api_key=…`` model args).

Model output and dataset text are not secrets and are never altered (they are escaped where
shown, not redacted).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

MASK = "***"

_SECRET_NAME = (r"(?:api[_-]?key|apikey|x[_-]api[_-]key|access[_-]?key|secret|passw(?:or)?d|passphrase|pwd|"
                r"authorization|auth|bearer|credentials?|private[_-]?key|session|cookie|"
                r"(?:access|refresh|id|auth|api|bearer|session)?[_-]?token|sig|signature|x[_-]amz[_-]\w+|key)")
SECRET_KEYS = re.compile(rf"(?:^|[_-]){_SECRET_NAME}(?:$|[_-])|^{_SECRET_NAME}$", re.I)
"""Keys (model args, headers, config entries, query parameters) whose values are secrets."""

_NOT_SECRET = re.compile(r"^(?:max[_-]?tokens?|max[_-]new[_-]tokens|max[_-]completion[_-]tokens|min[_-]tokens|"
                         r"tokens|tokenizer\w*|num[_-]tokens|keyframe\w*|key[_-]?frames?|sort[_-]key|"
                         r"length[_-]param|budget[_-]tokens|prompt[_-]tokens|completion[_-]tokens|total[_-]tokens)$",
                         re.I)
"""Names that contain a secret word but hold counts or settings (``max_tokens``, ``keyframe_interval``)."""


_ENV_NAME_KEY = re.compile(r"[_-]env(?:[_-]?var)?$", re.I)
_ENV_NAME_VALUE = re.compile(r"^\$?\{?[A-Z_][A-Z0-9_]{0,63}\}?$")


def names_env_var(name: str, value: Any) -> bool:
    """True for a pair that names the environment variable holding a secret, not the secret itself
    (``api_key_env=MY_KEY``): kept, so messages and run files say which variable to set. A value
    that does not look like a variable name (``api_key_env=sk-...`` by mistake) is still a secret."""
    return bool(_ENV_NAME_KEY.search(str(name).strip())) and isinstance(value, str) \
        and bool(_ENV_NAME_VALUE.match(value.strip()))


def is_secret_key(name: str) -> bool:
    """True when a key / parameter / header name holds a secret (``api_key``, ``token``, ``sig``, …)."""
    name = str(name).strip().lstrip("-")
    if name.isascii():
        # Every name SECRET_KEYS matches holds one of these words (each of its alternatives does; for an ASCII
        # name its IGNORECASE is lower()'s case): most names (run_id, model, packages) stop here, ~5x sooner.
        low = name.lower()
        if not ("key" in low or "secret" in low or "pass" in low or "pwd" in low or "auth" in low or "bearer" in low
                or "credential" in low or "session" in low or "cookie" in low or "token" in low or "sig" in low
                or "amz" in low):
            return False
    return bool(name) and not _NOT_SECRET.match(name) and bool(SECRET_KEYS.search(name))


# ----------------------------------------------------------------------------- URLs

_QUERY_PAIR = re.compile(r"(^|[&;])([^=&;]+)=([^&;]*)")


def redact_url(url: str) -> str:
    """The URL without user-info and with credential query values masked (path and other
    parameters kept, so the address stays recognisable)."""
    s = str(url)
    try:
        parts = urlsplit(s)
    except ValueError:
        return "<invalid url>"
    if not parts.scheme or not parts.netloc:
        return s
    host = parts.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    query = _QUERY_PAIR.sub(lambda m: m.group(1) + m.group(2) + "=" + (MASK if is_secret_key(unquote(m.group(2)))
                                                                      else m.group(3)), parts.query)
    fragment = MASK if parts.fragment and "=" in parts.fragment else parts.fragment
    return urlunsplit((parts.scheme, host + port, parts.path, query, fragment))


def clean_url(url: str) -> str:
    """``scheme://host[:port]/path`` without credentials, query or fragment (for identities)."""
    try:
        parts = urlsplit(str(url))
    except ValueError:
        return "<invalid url>"
    if not parts.scheme or not parts.hostname:
        return redact_text(str(url).split("?", 1)[0].split("@")[-1])
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path.rstrip('/')}"


# ----------------------------------------------------------------------------- free text

_URL_RE = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>`,]+")
_BEARER_RE = re.compile(r"(?i)\b(bearer|basic|token)(\s+)[A-Za-z0-9._~+/=-]{6,}")
_HEADER_RE = re.compile(r"(?i)\b((?:proxy-)?authorization|x-api-key|api-key|x-goog-api-key|cookie)(\s*[:=]\s*)"
                        r"(?:(bearer|basic)\s+)?[^\s,;\"'}]+")
_KV_RE = re.compile(r"(?<![A-Za-z0-9_.-])(-{0,2}[A-Za-z][A-Za-z0-9_.-]{1,40})(\s*=\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&\"'}\]]+)")
_PLACEHOLDER = re.compile(r"^(?:value\d*|v\d*|\.\.\.|…|\$\{?\w+\}?|<[^>]*>|x+|\*+|\*\*\*|none|null|)$", re.I)
"""Values that are examples or references, not secrets (``key=value``, ``api_key=$OPENAI_API_KEY``)."""
_JSON_KV_RE = re.compile(r"([\"'])([A-Za-z][A-Za-z0-9_.-]{1,40})\1(\s*:\s*)(\"[^\"]*\"|'[^']*')")
_KEY_RE = re.compile(r"\b(sk-(?:proj-|ant-)?)[A-Za-z0-9_-]{8,}|\b(hf_)[A-Za-z0-9]{10,}|\b(gh[pousr]_)[A-Za-z0-9]{10,}"
                     r"|\b(xox[abpr]-)[A-Za-z0-9-]{10,}|\b(AKIA)[A-Z0-9]{12,}")


def _redact_url_match(m: re.Match[str]) -> str:
    url = str(m.group(0))
    core = url.rstrip(").;:!?]")
    return redact_url(core) + url[len(core):]


_MAY_HOLD_SECRET = re.compile(r"""[:="'\s]|sk-|hf_|gh[pousr]_|xox[abpr]-|AKIA""")
"""Every pattern :func:`redact_text` masks needs one of these (a URL ``:``, a header ``:`` or ``=``, a bearer token
whitespace, a ``name=value`` ``=``, a JSON pair quotes, a key format its prefix): a text without any (a version, a
hash, a path, a name) is returned as it is, ~6x sooner than through the six patterns."""


def redact_text(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """Free text (an error message, a log line, a command line) with secrets masked: known secret
    values, URL user-info and credential query values, auth headers, bearer tokens, ``name=value``
    pairs with a secret name, and well-known key formats (``sk-…``, ``hf_…``)."""
    if not text:
        return text
    s = str(text)
    if not secrets and not _MAY_HOLD_SECRET.search(s):
        return s
    for secret in secrets:
        if secret and len(secret) >= 4:
            s = s.replace(secret, MASK)
    s = _URL_RE.sub(_redact_url_match, s)
    s = _HEADER_RE.sub(lambda m: m.group(1) + m.group(2) + (m.group(3) + " " if m.group(3) else "") + MASK, s)
    s = _BEARER_RE.sub(lambda m: m.group(1) + m.group(2) + MASK, s)
    s = _KV_RE.sub(lambda m: m.group(1) + m.group(2) + MASK
                   if is_secret_key(m.group(1)) and not _PLACEHOLDER.match(m.group(3).strip("\"'"))
                   and not names_env_var(m.group(1), m.group(3).strip("\"'").rstrip(").:!?")) else m.group(0), s)
    s = _JSON_KV_RE.sub(lambda m: m.group(0) if not is_secret_key(m.group(2))
                        else f"{m.group(1)}{m.group(2)}{m.group(1)}{m.group(3)}{m.group(4)[0]}{MASK}{m.group(4)[0]}", s)
    s = _KEY_RE.sub(lambda m: next(g for g in m.groups() if g) + MASK, s)
    return s


# ----------------------------------------------------------------------------- structures


def redact_mapping(args: dict[str, Any]) -> dict[str, Any]:
    """Model args and similar settings for writing: secret-looking keys dropped, URLs redacted,
    other string values scrubbed (``redact_text``)."""
    return {k: redact_value(v) for k, v in args.items() if not is_secret_key(k) or names_env_var(k, v)}


def redact_value(value: Any) -> Any:
    """Any JSON-like value with secrets masked: mapping entries under a secret key become ``***``,
    strings are scrubbed with ``redact_text``."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: (MASK if is_secret_key(str(k)) and v not in (None, "", MASK) and not isinstance(v, (bool, int, float))
                    and not names_env_var(str(k), v) else redact_value(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v) for v in value]
    return value


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k: (MASK if is_secret_key(k) or k.lower() in ("authorization", "proxy-authorization", "cookie")
                else redact_text(v)) for k, v in headers.items()}


def redact_argv(argv: list[str]) -> list[str]:
    """A command line with secret option values (``--api-key X``, ``--token=X``) and secrets inside
    arguments (``k=v`` model args, URLs) replaced by ``***``."""
    red: list[str] = []
    hide_next = False
    for a in argv:
        if hide_next:
            red.append(MASK)
            hide_next = False
            continue
        if a.startswith("--") and is_secret_key(a[2:].split("=", 1)[0]):
            if "=" in a:
                red.append(a.split("=", 1)[0] + "=" + MASK)
            else:
                red.append(a)
                hide_next = True
            continue
        red.append(redact_text(a))
    return red


__all__ = ["MASK", "SECRET_KEYS", "is_secret_key", "names_env_var", "redact_url", "clean_url", "redact_text", "redact_mapping",
           "redact_value", "redact_headers", "redact_argv"]
