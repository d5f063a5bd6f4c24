"""Normalising identity values, so the same person found in two places gets the same identity.

- `email`: trimmed and lower-cased.
- `phone`: a leading `+` (after trimming) and the digits; everything else (spaces, dashes, brackets) dropped.
- any other kind: `str()` of the value, trimmed.

Only strings and numbers are identities (a bool, a list or an object at the path gives none), and a value that
normalises to nothing gives none.
"""

from __future__ import annotations

import re
from typing import Any

_NOT_DIGIT = re.compile(r"\D")


def normalise_identity(kind: str, value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = str(value).strip()
    if kind == "email":
        text = text.lower()
    elif kind == "phone":
        digits = _NOT_DIGIT.sub("", text)
        text = ("+" + digits if text.startswith("+") else digits) if digits else ""
    return text or None
