"""The interactive menu of the seed design."""

from ui.menu.shell import Shell

__all__ = ["Shell"]
