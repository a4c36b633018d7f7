"""Fixtures of the actor tests (the rig lives in :mod:`tests.actors.rig`)."""

from tests.actors.rig import rig

__all__ = ["rig"]
