"""Which client connections watch which lists, for the updates the proxy sends them.

A watch is a connection's set of lists, replaced by each ``Watch`` it sends
and lapsing ``lapse_s`` after the last one (a client renews it while it
watches; a client gone without a word stops costing anything then). Both
the number of watching connections and the lists of each are bounded.
Pure bookkeeping, owned by the proxy actor (its bridge thread).
"""

from __future__ import annotations

from typing import Final

from protocol.sharing import WATCH_LAPSE_S

__all__ = ["LAPSE_S", "MAX_WATCHING", "Watchers"]

#: A watch lapses this long after its last renewal.
LAPSE_S: Final = WATCH_LAPSE_S
#: Connections that may watch at once; beyond, a Watch is refused ``overloaded``.
MAX_WATCHING: Final = 10_000


class Watchers:
    """See the module docstring. Times are ``time.monotonic()`` seconds."""

    def __init__(self, lapse_s: float = LAPSE_S, max_watching: int = MAX_WATCHING) -> None:
        self.lapse_s = lapse_s
        self.max_watching = max_watching
        self._by_list: dict[str, set[bytes]] = {}
        #: connection -> (when its watch lapses, its lists)
        self._by_peer: dict[bytes, tuple[float, set[str]]] = {}

    def __len__(self) -> int:
        return len(self._by_peer)

    def watch(self, peer: bytes, list_ids: list[str], now: float) -> bool:
        """Make ``list_ids`` the watch of ``peer``; ``False`` (nothing changed)
        when too many connections watch already."""
        if peer not in self._by_peer and len(self._by_peer) >= self.max_watching:
            return False
        self.drop(peer)
        if not list_ids:
            return True
        lists = set(list_ids)
        self._by_peer[peer] = (now + self.lapse_s, lists)
        for list_id in lists:
            self._by_list.setdefault(list_id, set()).add(peer)
        return True

    def of(self, list_id: str) -> list[bytes]:
        """The connections watching ``list_id``."""
        peers = self._by_list.get(list_id)
        return list(peers) if peers else []

    def unwatch(self, peer: bytes, list_id: str) -> None:
        """``peer`` no longer receives ``list_id``'s updates (it lost access)."""
        entry = self._by_peer.get(peer)
        if entry is not None:
            entry[1].discard(list_id)
        self._discard(list_id, peer)

    def drop(self, peer: bytes) -> None:
        """Forget ``peer``'s watch (it left, or sent a new one)."""
        entry = self._by_peer.pop(peer, None)
        if entry is not None:
            for list_id in entry[1]:
                self._discard(list_id, peer)

    def expire(self, now: float) -> int:
        """Drop the watches that lapsed; how many."""
        lapsed = [peer for peer, (until, _) in self._by_peer.items() if until <= now]
        for peer in lapsed:
            self.drop(peer)
        return len(lapsed)

    def _discard(self, list_id: str, peer: bytes) -> None:
        peers = self._by_list.get(list_id)
        if peers is not None:
            peers.discard(peer)
            if not peers:
                del self._by_list[list_id]
