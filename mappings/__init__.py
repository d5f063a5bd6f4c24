"""The mapping language: how a source's records or events become profile identities and attributes, and which
attributes are written back to the vendor. The language is described in mappings/README.md; the default mapping
files for each vendor sit next to this module."""

from mappings.compare import same_remote
from mappings.errors import MappingValueError
from mappings.load import default_mapping, load_mapping
from mappings.rules import FieldRule, IdentityRule, Mapping, ObjectRules
from mappings.writable import can_write, write_problem

__all__ = [
    "FieldRule",
    "IdentityRule",
    "Mapping",
    "MappingValueError",
    "ObjectRules",
    "can_write",
    "default_mapping",
    "load_mapping",
    "same_remote",
    "write_problem",
]
