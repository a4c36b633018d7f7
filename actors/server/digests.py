"""Anti-entropy digests of a server's lists, grouped by replica set.

Two replicas can only compare what both should hold, so lists are grouped by
their *replica group*: the sorted set of servers in their preference list.
Within a group, lists fall into 64 buckets by the top 6 bits of their ring
position, and each bucket's digest is the XOR of ``md5(list id + state
digest)`` over its lists. XOR makes the digest order-free and incremental: a
write XORs the list's old hash out and its new one in, in O(1).

Comparing two replicas of a group costs one 64-bucket digest each; only the
buckets that differ are listed in full, and only the lists that differ are
repaired: a two-level Merkle tree. Pure: no I/O, no threads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from ring import HashRing, key_position

__all__ = ["BUCKETS", "DigestIndex", "bucket_of", "group_of"]

BUCKETS = 64
_SHIFT = 128 - 6
Group = tuple[str, ...]


def bucket_of(list_id: str) -> int:
    return key_position(list_id) >> _SHIFT


def group_of(ring: HashRing, list_id: str, n: int) -> Group:
    return tuple(sorted(ring.get_replicas(list_id, n)))


def _item_hash(list_id: str, digest: bytes) -> int:
    return int.from_bytes(hashlib.md5(list_id.encode() + digest, usedforsecurity=False).digest())


class DigestIndex:
    """Per-group, per-bucket digests of the lists one server holds.

    Args:
        ring: the ring of the epoch the proxy announced, or ``None`` before
            the first announcement (then nothing is grouped).
        n: replicas per list.
    """

    def __init__(self, ring: HashRing | None, n: int) -> None:
        self.ring = ring
        self.n = n
        self._where: dict[str, tuple[Group, int, bytes]] = {}
        self._buckets: dict[Group, list[int]] = {}
        self._lists: dict[tuple[Group, int], dict[str, bytes]] = {}

    def rebuild(self, ring: HashRing | None, rows: Iterable[tuple[str, bytes]]) -> None:
        """Regroup every list (after a ring change): ``rows`` are (list id, state digest)."""
        self.ring = ring
        self._where.clear()
        self._buckets.clear()
        self._lists.clear()
        for list_id, digest in rows:
            self.update(list_id, digest)

    def update(self, list_id: str, digest: bytes | None) -> None:
        """Record a list's new state digest (``None``: the list is gone)."""
        old = self._where.pop(list_id, None)
        if old is not None:
            group, bucket, old_digest = old
            self._buckets[group][bucket] ^= _item_hash(list_id, old_digest)
            self._lists[(group, bucket)].pop(list_id, None)
        if digest is None or self.ring is None or not len(self.ring):
            return
        if old is None:
            group = group_of(self.ring, list_id, self.n)
            bucket = bucket_of(list_id)
        # else: same ring, same place (rebuild() clears _where on a ring change)
        self._where[list_id] = (group, bucket, digest)
        self._buckets.setdefault(group, [0] * BUCKETS)[bucket] ^= _item_hash(list_id, digest)
        self._lists.setdefault((group, bucket), {})[list_id] = digest

    def group(self, list_id: str) -> Group | None:
        """The replica group a list is filed under, or ``None`` if it is not indexed."""
        where = self._where.get(list_id)
        return where[0] if where is not None else None

    def digests(self, group: Group) -> list[bytes]:
        """The 64 bucket digests of a group (zeros where it holds nothing)."""
        buckets = self._buckets.get(tuple(sorted(group)), [0] * BUCKETS)
        return [b.to_bytes(16, "big") for b in buckets]

    def count(self, group: Group) -> int:
        key = tuple(sorted(group))
        return sum(len(self._lists.get((key, b), {})) for b in range(BUCKETS))

    def entries(self, group: Group, buckets: Iterable[int]) -> list[tuple[str, bytes]]:
        """(list id, state digest) of the group's lists in the given buckets."""
        key = tuple(sorted(group))
        out: list[tuple[str, bytes]] = []
        for b in buckets:
            out.extend(self._lists.get((key, b), {}).items())
        return out

    def not_owned(self, me: str) -> list[str]:
        """Lists held here whose replica group no longer includes ``me``."""
        return [list_id for list_id, (group, _, _) in self._where.items() if me not in group]
