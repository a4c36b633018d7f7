"""The servers' memory in the cluster benchmark: RSS and bytes per cached list.

RSS is read from ``/proc/<pid>/status`` (``VmRSS``); the bench samples it
when the ring is up (before preload), after preload, and at the end of the
load. The lists each server stores are counted exactly from the ring the
proxy's status probe describes (its members and their virtual nodes): the
same preference list (:meth:`ring.HashRing.get_replicas`) the proxy's
coordinator walks, so on a healthy ring each list is on its first N.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

from protocol import StatusReply
from ring import HashRing

__all__ = [
    "bytes_per_cached_list",
    "lists_per_server",
    "rss_bytes",
    "rss_snapshot",
]


def rss_bytes(pid: int, proc: Path = Path("/proc")) -> int | None:
    """The resident set size of ``pid`` in bytes; ``None`` if it is gone (or
    no ``/proc``)."""
    try:
        text = (proc / str(pid) / "status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024  # the kernel reports kB
    return None


def rss_snapshot(pids: Mapping[str, int]) -> dict[str, int]:
    """Server id -> RSS in bytes, of those still running."""
    out = {}
    for name, pid in pids.items():
        rss = rss_bytes(pid)
        if rss is not None:
            out[name] = rss
    return out


def lists_per_server(status: StatusReply, list_ids: Iterable[str]) -> dict[str, int]:
    """Server id -> how many of ``list_ids`` it stores: each list on the first
    ``status.n`` servers of its preference list on the ring ``status`` shows
    (every member, with its virtual nodes)."""
    vnodes = status.members[0].vnodes if status.members else 1
    ring = HashRing([m.node_id for m in status.members], vnodes)
    counts: Counter[str] = Counter({m.node_id: 0 for m in status.members})
    for list_id in list_ids:
        counts.update(ring.get_replicas(list_id, status.n))
    return dict(counts)


def bytes_per_cached_list(
    before: Mapping[str, int],
    end: Mapping[str, int],
    stored: Mapping[str, int],
    cache_lists: int,
) -> float | None:
    """Mean over servers of (RSS at the end - RSS before preload) / lists
    cached on it, where a server caches min(``cache_lists``, lists it stores).
    Servers without both samples or with nothing cached are left out;
    ``None`` if none is left."""
    per_server = []
    for name, rss_end in end.items():
        cached = min(cache_lists, stored.get(name, 0))
        if name in before and cached > 0:
            per_server.append((rss_end - before[name]) / cached)
    return round(sum(per_server) / len(per_server), 1) if per_server else None
