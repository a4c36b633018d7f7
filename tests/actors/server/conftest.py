"""Fixtures of the server tests (they live in :mod:`tests.actors.server.stores`)."""

from tests.actors.server.stores import cached, db_path

__all__ = ["cached", "db_path"]
