"""A quorum request's bookkeeping: its slots, their attempts, and the retry policy.

Pure data and one tenacity policy, used by :mod:`actors.proxy.coordinator`; no
I/O. A request has one :class:`Slot` per replica of its preference list; a
slot makes one attempt at a time, on successive servers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import tenacity

from protocol import AccessState, ErrorCode, Get, Handoff, Put

__all__ = [
    "AttemptFailed",
    "Outcome",
    "QuorumConfig",
    "Request",
    "RequestKind",
    "Slot",
    "SlotStatus",
    "attempt_policy",
]


#: What a request's counts decide (see :meth:`Request.outcome`).
Outcome = Literal["answer", "pending", "escalate", "verifying", "fail"]


class AttemptFailed(Exception):
    """One attempt against one replica failed."""


def attempt_policy(attempts: int = 3) -> tenacity.Retrying:
    """Three attempts in all, each at once on the next candidate."""
    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(attempts),
        wait=tenacity.wait_none(),
        retry=tenacity.retry_if_exception_type(AttemptFailed),
        reraise=False,
    )


@dataclass(frozen=True)
class QuorumConfig:
    n: int
    r: int
    w: int
    request_timeout_s: float
    attempts: int = 3
    #: a server that answered anything this recently is slow, not suspect
    quiet_s: float = 1.5


#: What a request is: a client's write or read, a server's handoff of a
#: hinted write, or a background repair of a replica group.
RequestKind = Literal["put", "get", "handoff", "repair"]
#: Where a slot is: waiting for its current attempt, answered, out of
#: attempts, or answered that its copy cannot decide a client's write (it
#: may lag behind the others: see :mod:`actors.proxy.verification`).
SlotStatus = Literal["active", "ok", "failed", "undecided"]


@dataclass(eq=False)
class Slot:
    """One copy of a request: successive attempts on successive servers."""

    owner: str
    #: tenacity's record of this slot's attempts, made at its first failure
    #: (most slots never fail, and need none)
    retry: tenacity.RetryCallState | None = None
    attempt: int = 1
    node: str = ""
    msg_id: str = ""
    status: SlotStatus = "active"
    blob: bytes | None = None
    #: a fetch of the owner's copy made to verify a write (not one of the
    #: request's N copies: it never counts toward W or R)
    check: bool = False


@dataclass(eq=False)
class Request:
    """A request in flight."""

    kind: RequestKind
    peer: bytes
    msg: Put | Get | Handoff
    owners: list[str]
    spares: list[str]
    used: set[str]
    need: int
    slots: list[Slot] = field(default_factory=list)
    replied: bool = False
    ok: int = 0
    active: int = 0
    #: reads: answers that held a copy (a not-found is ok, but not found)
    found: int = 0
    #: slots a replica refused as malformed, and the last reason given
    refusals: int = 0
    refused: str = ""
    #: when the proxy took it on (monotonic seconds)
    started_s: float = 0.0
    #: a client's write: its authenticated key (Z85), named in every Store so
    #: that the replicas check the frame (empty: the cluster's own copies)
    writer: str = ""
    #: a change to the list's access list made by the proxy, sent with every Store
    access: AccessState | None = None
    #: what the cluster has shown the writer of the list (see Store.observed)
    observed: bytes | None = None
    #: slots whose replica answered "undecided" (a write's copy that lags)
    undecided: int = 0
    #: the fetches of every owner's copy that verify a write no copy
    #: decided (see :mod:`actors.proxy.verification`); made at most once
    checks: list[Slot] = field(default_factory=list)
    #: checks still waiting for their answer
    checking: int = 0
    #: the checks were sent; and then answered (the undecided copies resent)
    escalated: bool = False
    verified: bool = False

    def finish(self, slot: Slot, status: Literal["ok", "failed", "undecided"]) -> None:
        """Move an active slot to "ok", "failed" or "undecided", keeping the counts."""
        slot.status = status
        self.active -= 1
        if status == "ok":
            self.ok += 1
        elif status == "undecided":
            self.undecided += 1

    def resume(self, slot: Slot) -> None:
        """Make an undecided slot active again (its frame is sent once more)."""
        slot.status = "active"
        self.undecided -= 1
        self.active += 1

    def outcome(self) -> Outcome:
        """What the counts say of a request not answered yet (not a repair).

        ``answer``: enough replicas answered (a read: R that held a copy, or
        every owner answered and R did; Riak's notfound_ok = false, so a list
        only some owners hold yet is found while one that answers holds it).
        Once too few slots are left to reach it: ``escalate`` when some
        copies could not decide and they were not verified yet, ``verifying``
        while the verification runs, else ``fail``. ``pending``: the answers
        are still coming.
        """
        need, ok, active = self.need, self.ok, self.active
        if self.kind == "get":
            done = self.found >= need or (active == 0 and ok >= need)
        else:
            done = ok >= need
        if done:
            return "answer"
        if ok + active >= need:
            return "pending"
        if self.undecided and not self.escalated:
            return "escalate"
        return "verifying" if self.checking else "fail"

    def failure(self) -> tuple[ErrorCode, str]:
        """The error of a request whose outcome is ``fail``: when refusals
        alone leave too few slots it is malformed (the client's to fix, not
        to retry), else the replicas were unavailable."""
        if len(self.slots) - self.refusals < self.need:
            return "bad_request", f"refused by a replica: {self.refused}"
        return "unavailable", f"only {self.ok} of the {self.need} replicas needed answered"
