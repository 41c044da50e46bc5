"""API keys never travel in URLs: recognising them there, and redacting them from what is logged.

A URL ends up in access logs, proxy logs and browser history; a key sent in
one (``?api_key=tsk_...``) is refused (400 ``key_in_url``) and redacted
from the access log line (:class:`tessera.api.server.RedactKeys`).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote_plus

KEY_PATTERN = re.compile(r"tsk_[0-9A-Za-z]+_[0-9A-Za-z_\-]+")
"""An API key as it may appear in a URL (``tsk_<id>_<secret>``)."""

KEY_PARAMETERS = frozenset({"key", "api_key", "apikey", "token", "access_token", "authorization", "bearer"})
"""Query parameter names that carry a key; their values never reach a log."""

_PARAMETER = re.compile(r"(?i)([?&](?:" + "|".join(sorted(KEY_PARAMETERS)) + r")=)[^&\s]*")


def carries_key(query: str) -> bool:
    """Whether a URL's query string holds an API key, or a parameter named as one."""
    if KEY_PATTERN.search(unquote_plus(query)):
        return True
    return any(name.lower() in KEY_PARAMETERS for name, _ in parse_qsl(query, keep_blank_values=True))


def redact_keys(text: str) -> str:
    """``text`` (a URL, a log line) with every API key and key-named query parameter's value replaced."""
    return _PARAMETER.sub(r"\1[redacted]", KEY_PATTERN.sub("tsk_[redacted]", text))
