"""The mapping file's entries as pydantic models (unknown keys refused), and the names and patterns they use.

```yaml
objects:                      # cloud-app bridges: keyed by object type (records.object_type)
  contact:
    identities: [{kind: email, path: properties.email}]
    fields: [{path: properties.firstname, attribute: first_name, direction: two-way, type: string}]
events:                       # push bridges: keyed by event type, "*" = any other
  identify: {identities: [...], fields: [...]}
```
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mappings.paths import PATH

DIRECTIONS = ("one-way", "two-way", "out")
CONFLICTS = ("newest", "remote_wins", "local_wins")
ATTRIBUTE = r"^[a-z][a-z0-9_]{0,63}$"
KIND = r"^[a-z][a-z0-9_]{0,31}$"
TOP_KEYS = ("objects", "events")
RULES_KEYS = ("identities", "fields")

Direction = Literal["one-way", "two-way", "out"]
Conflict = Literal["newest", "remote_wins", "local_wins"]
Type = Literal["string", "int", "float", "bool", "datetime", "list"]


class IdentitySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(pattern=KIND)
    path: str = Field(pattern=PATH.pattern)


class FieldSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(pattern=PATH.pattern)
    attribute: str = Field(pattern=ATTRIBUTE)
    direction: Direction = "one-way"
    type: Type | None = None
    in_: str | None = Field(default=None, alias="in")
    out: str | None = None
    conflict: Conflict = "newest"


def keys_of(model: type[BaseModel]) -> list[str]:
    """The keys a model takes, as written in the file."""
    return [f.alias or name for name, f in model.model_fields.items()]
