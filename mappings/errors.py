"""The error a mapping raises at run time, when one value cannot be turned into an attribute or back."""

from __future__ import annotations


class MappingValueError(Exception):
    """A value a mapping could not handle: a template that failed (an undefined variable, a filter given what it
    cannot take) or a value that cannot be coerced to the field's `type`. It names the mapping file, the object
    (or event) type, the attribute and the cause."""

    def __init__(self, file: str, object: str, attribute: str, cause: str) -> None:
        self.file = file
        self.object = object
        self.attribute = attribute
        self.cause = cause
        super().__init__(f"{file}: {object}.{attribute}: {cause}")
