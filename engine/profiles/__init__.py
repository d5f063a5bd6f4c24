"""Profiles: records and events resolved to one profile per person through the identities their mappings name,
attributes with their provenance, merges, and the two-way outbox that writes attributes back to cloud apps."""

from engine.profiles.observe import Observation, apply_observations
from engine.profiles.registry import Registry
from engine.profiles.tables import record_profiles

__all__ = ["Observation", "Registry", "apply_observations", "record_profiles"]
