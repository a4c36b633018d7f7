"""The proxy's ring membership on disk, so that a restarted proxy rebuilds
the same ring at once instead of waiting for a join batch.

The file is JSON, written to a temporary file, fsynced and renamed over the
old one, so a crash leaves either the old or the new membership. It is read
back through a typed decoder like any other untrusted input.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import msgspec

import logs

__all__ = ["MembershipFile"]

log = logs.get_logger(__name__)

NodeId = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class _Membership(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    members: Annotated[list[NodeId], msgspec.Meta(max_length=100_000)]
    epoch: Annotated[int, msgspec.Meta(ge=0)] = 0


class MembershipFile:
    """Load and save the sorted list of ring members and the ring epoch."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> tuple[list[str], int]:
        """The saved members and ring epoch, or ``([], 0)`` when there is no (valid) file."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return [], 0
        try:
            saved = msgspec.json.decode(raw, type=_Membership)
        except msgspec.DecodeError as exc:
            log.error("membership.unreadable", path=str(self.path), error=str(exc))
            return [], 0
        return list(saved.members), saved.epoch

    def save(self, members: list[str], epoch: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            f.write(msgspec.json.encode(_Membership(sorted(members), epoch)))
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.path)
