"""Fixtures of the kernel's tests: the quiet bridge and the hooks of the hosted test actor."""

from tests.actors.kernel.hosted import hooks, quiet

__all__ = ["hooks", "quiet"]
