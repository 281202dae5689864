"""Redaction by rule: evidence (command lines, messages, URLs) never carries a secret.

Rules, each replacing a value with `***`:

- userinfo in a URL: `postgres://app:pw@db/x` → `postgres://***@db/x`;
- the value of an option whose name holds `token`, `secret`, `key` or `pass` (`--api-key=v`,
  `--token v`, `--password v`);
- `VAR=value` assignments: every one in a command line (`redact_command`), those whose name
  holds a secret word elsewhere (`redact_text`; `job="api"` in a message is not a secret).

A redacted command line keeps its shape (program, flags, names), so the evidence still says what
runs. `redact_document` applies `redact_text` to every string of a JSON-like document; the
report builder runs it over the whole report as the last step.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["MASK", "redact_command", "redact_document", "redact_text"]

MASK = "***"

_USERINFO = re.compile(r"(?P<keep>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<value>[^/\s@]+)(?P<sep>@)")
_SENSITIVE = r"(?:token|secret|key|pass|pwd|credential|auth|private|session|cookie|signature)"
_OPTION = re.compile(
    rf"(?P<keep>(?<!\S)--?[A-Za-z0-9_-]*{_SENSITIVE}[A-Za-z0-9_-]*)(?P<sep>=|\s+)(?P<value>(?!-)\S+)",
    re.IGNORECASE,
)
_ANY_ASSIGNMENT = re.compile(r"(?P<keep>(?<!\S)[A-Za-z_][A-Za-z0-9_]*=)(?P<value>\S+)")
_SECRET_ASSIGNMENT = re.compile(
    rf"(?P<keep>\b[A-Za-z0-9_]*{_SENSITIVE}[A-Za-z0-9_]*=)(?P<value>[^\s&;,]+)",
    re.IGNORECASE,
)


def _apply(text: str, patterns: tuple[re.Pattern[str], ...]) -> tuple[str, int]:
    replaced = 0

    def mask(match: re.Match[str]) -> str:
        nonlocal replaced
        if match["value"] == MASK:
            return match[0]
        replaced += 1
        if match.re is _USERINFO:
            return f"{match['keep']}{MASK}@"
        return f"{match['keep']}{match['sep'] if 'sep' in match.re.groupindex else ''}{MASK}"

    for pattern in patterns:
        text = pattern.sub(mask, text)
    return text, replaced


def redact_command(text: str) -> tuple[str, int]:
    """A command line with every rule applied (all `VAR=value` values); and how many values
    were replaced."""
    return _apply(text, (_USERINFO, _OPTION, _ANY_ASSIGNMENT))


def redact_text(text: str) -> tuple[str, int]:
    """Free text (a message, a URL) with URL userinfo, secret options and secret-named
    assignments replaced; and how many values were replaced."""
    return _apply(text, (_USERINFO, _OPTION, _SECRET_ASSIGNMENT))


def redact_document(document: Any) -> tuple[Any, int]:
    """A copy of a JSON-like document with `redact_text` applied to every string (keys too);
    and how many values were replaced."""
    if isinstance(document, str):
        return redact_text(document)
    if isinstance(document, dict):
        total = 0
        out: dict[Any, Any] = {}
        for key, value in document.items():
            new_key, key_count = redact_document(key) if isinstance(key, str) else (key, 0)
            new_value, value_count = redact_document(value)
            out[new_key] = new_value
            total += key_count + value_count
        return out, total
    if isinstance(document, list | tuple):
        items = [redact_document(item) for item in document]
        return [item for item, _ in items], sum(count for _, count in items)
    return document, 0
