"""Who is in the ring, who waits to join, and who answers probes.

Pure bookkeeping owned by the proxy actor: no sockets, no clock of its own
(``now`` is passed in, from ``time.monotonic()``), so its rules are easy to
reason about and to test.

Joining: a server that says hello while it is a member is acked at once;
others wait in the hello queue, in arrival order, and are admitted
``batch_size`` at a time with one ring rebuild, or fewer once the oldest
has waited ``batch_timeout_s``.

Liveness: every probe round, a member that did not answer the previous probe
accrues a miss; ``probe_misses`` consecutive misses, or a failed request,
make it *suspect*, and requests route around it until it answers again.
"""

from __future__ import annotations

from dataclasses import dataclass

from ring import HashRing

__all__ = ["Member", "Membership"]


@dataclass
class Member:
    node_id: str
    #: monotonic time of the last sign of life (probe answer, reply, hello)
    last_seen: float | None = None
    #: consecutive probe rounds without an answer
    misses: int = 0
    suspect: bool = False
    #: whether the most recent probe was answered
    answered: bool = False
    #: when it became suspect (monotonic), for the failure detector's figures
    suspect_since: float | None = None


class Membership:
    """The proxy's view of the cluster; see the module docstring."""

    def __init__(
        self,
        vnodes: int,
        batch_size: int,
        batch_timeout_s: float,
        probe_misses: int,
        known: list[str] | None = None,
    ) -> None:
        self.ring = HashRing(known or (), vnodes=vnodes)
        # answered=True: nobody is charged a miss for a probe not yet sent.
        self.members: dict[str, Member] = {
            node: Member(node, answered=True) for node in known or ()
        }
        self.queue: dict[str, float] = {}
        #: queued joiners that spoke for themselves (not only through the supervisor)
        self._heard: set[str] = set()
        #: (event, node, monotonic time) of liveness changes, drained by the proxy to log them
        self.events: list[tuple[str, str, float]] = []
        self.batch_size = batch_size
        self.batch_timeout_s = batch_timeout_s
        self.probe_misses = probe_misses
        self.epoch = 0

    # ---------------------------------------------------------------- joining

    def hello(self, node_id: str, now: float, vouched: bool = False) -> bool:
        """Record a hello; True when ``node_id`` is a member and is to be acked now.

        ``vouched`` marks a hello sent on the server's behalf (by the process
        supervisor): it queues a joiner but is no sign that the server is up.
        """
        member = self.members.get(node_id)
        if member is not None:
            if vouched:
                return False
            self.seen(node_id, now)
            return True
        self.queue.setdefault(node_id, now)
        if not vouched:
            self._heard.add(node_id)
        return False

    def admit_due(self, now: float) -> list[str]:
        """Admit the next batch if it is full or its oldest joiner waited long enough."""
        if not self.queue:
            return []
        oldest = next(iter(self.queue.values()))
        if len(self.queue) < self.batch_size and now - oldest < self.batch_timeout_s:
            return []
        batch = list(self.queue)[: self.batch_size]
        for node in batch:
            del self.queue[node]
            heard = node in self._heard
            self._heard.discard(node)
            self.members[node] = Member(node, last_seen=now if heard else None, answered=True)
        self.ring.add_nodes(batch)
        self.epoch += 1
        return batch

    def remove(self, node_id: str) -> None:
        """Take a member out of the ring for good."""
        if node_id in self.members:
            del self.members[node_id]
            self.ring.remove_node(node_id)
            self.epoch += 1

    def dead(self, now: float, after_s: float) -> list[str]:
        """Members suspect for longer than ``after_s``: to be removed from the ring."""
        return [
            m.node_id
            for m in self.members.values()
            if m.suspect and m.suspect_since is not None and now - m.suspect_since > after_s
        ]

    # --------------------------------------------------------------- liveness

    def probe_round(self, now: float) -> list[str]:
        """Start a probe round: charge a miss to whoever left the last one unanswered.

        Returns the members to probe now.
        """
        for member in self.members.values():
            if member.answered:
                member.answered = False
            else:
                member.misses += 1
                if member.misses >= self.probe_misses and not member.suspect:
                    member.suspect = True
                    member.suspect_since = now
                    self.events.append(("suspect_missed_probes", member.node_id, now))
        return list(self.members)

    def seen(self, node_id: str, now: float) -> None:
        """A sign of life: the member is healthy again."""
        member = self.members.get(node_id)
        if member is None:
            return
        if member.suspect:
            self.events.append(("recovered", node_id, now))
        member.last_seen = now
        member.misses = 0
        member.answered = True
        member.suspect = False
        member.suspect_since = None

    def failed(self, node_id: str, now: float) -> None:
        """A request to the member failed: suspect it until it answers a probe."""
        member = self.members.get(node_id)
        if member is not None and not member.suspect:
            member.suspect = True
            member.suspect_since = now
            self.events.append(("suspect_failed_request", node_id, now))

    def alive(self, node_id: str) -> bool:
        """Answered the most recent completed probe round (or spoke since)."""
        member = self.members.get(node_id)
        return (
            member is not None
            and member.last_seen is not None
            and member.misses == 0
            and not member.suspect
        )

    def timed_out(self, node_id: str, now: float, quiet_s: float) -> None:
        """A request to the member got no answer in time.

        A server that answered anything within ``quiet_s`` is alive and only
        slow (a queue under load): suspecting it would move its load onto
        stand-ins and make things worse. One that has been quiet is suspect.
        """
        member = self.members.get(node_id)
        if member is not None and (member.last_seen is None or now - member.last_seen > quiet_s):
            self.failed(node_id, now)

    def healthy(self, node_id: str) -> bool:
        member = self.members.get(node_id)
        return member is not None and not member.suspect
