"""What :func:`crdt.validation.check_write` answers: accept, refuse, or ask the other copies.

Pure code: no sockets, no threads, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

__all__ = [
    "UNSEEN_KINDS",
    "Accepted",
    "RefusalKind",
    "Refused",
    "Undecided",
    "UnseenKind",
    "Verdict",
]

#: Why a frame was refused (a contract: replies and logs may rely on these):
#:
#: - ``wrong_list``: the frame is a state of another list
#: - ``counter_ceiling``: a counter above ``WriteLimits.max_counter``
#: - ``altered_dot``: carries a dot the copy holds, with other content
#: - ``unobserved``: would remove live dots of another replica that the
#:   sender was never shown
#: - ``too_large``: the list would outgrow ``WriteLimits``
#: - ``forged_dot``: carries a dot under a replica id the sender may not
#:   write, that the cluster has not seen
#: - ``forged_context``: claims dots of a replica the sender may not write,
#:   that the cluster has not seen
#: - ``counter_jump``: claims more new operations of the sender's own replica
#:   than one write may (``WriteLimits.max_new_dots``)
RefusalKind = Literal[
    "wrong_list",
    "counter_ceiling",
    "altered_dot",
    "unobserved",
    "too_large",
    "forged_dot",
    "forged_context",
    "counter_jump",
]
#: The refusals that depend on how much the copy has seen (rules 1 and 2 of
#: :mod:`crdt.validation`), most telling first.
UnseenKind = Literal["forged_dot", "forged_context", "counter_jump"]
UNSEEN_KINDS: Final[tuple[UnseenKind, ...]] = ("forged_dot", "forged_context", "counter_jump")


@dataclass(frozen=True, slots=True)
class Accepted:
    """The frame may be merged into the copy."""

    outcome: Literal["accepted"] = "accepted"


@dataclass(frozen=True, slots=True)
class Refused:
    """The frame must not be merged; ``message`` is meant for the sender."""

    kind: RefusalKind
    message: str
    outcome: Literal["refused"] = "refused"

    @property
    def retryable(self) -> bool:
        """True for the kinds that depend on what the cluster has seen: the
        same frame may be accepted later, when a write it observed (still in
        a hinted handoff, say) has reached the copies asked."""
        return self.kind in UNSEEN_KINDS


@dataclass(frozen=True, slots=True)
class Undecided:
    """This copy has not seen what the frame relies on; ask the other copies.

    ``missing`` maps each replica id the copy could not vouch for to the
    highest counter of it that the frame claims. :meth:`refused` is what to
    answer when no copy has seen more.
    """

    kind: UnseenKind
    message: str
    missing: Mapping[str, int] = field(default_factory=dict)
    #: the message of :meth:`refused`, which speaks of the cluster, not this copy
    final_message: str = ""
    outcome: Literal["undecided"] = "undecided"

    def refused(self) -> Refused:
        """The refusal, for a caller that asked every copy and found no more."""
        return Refused(self.kind, self.final_message or self.message)


Verdict = Accepted | Refused | Undecided
