"""A server's acknowledgements of one poll's commits always fit the protocol."""

from __future__ import annotations

import itertools

from actors.server.actor import stored_batches
from protocol import StoredBatch, decode, encode
from protocol.limits import MAX_BATCH_ITEMS


def test_more_commits_than_one_stored_batch_may_name_are_split_in_order() -> None:
    ids = [f"proxy.{i}" for i in range(2 * MAX_BATCH_ITEMS + 3)]
    counter = itertools.count(1)
    acks = list(stored_batches(ids, lambda: f"s1.{next(counter)}", "s1"))
    assert [MAX_BATCH_ITEMS, MAX_BATCH_ITEMS, 3] == [len(a.reply_to) for a in acks]
    assert ids == [i for a in acks for i in a.reply_to]
    # Each is a valid frame: the proxy decodes it.
    assert all(isinstance(decode(encode(a)), StoredBatch) for a in acks)
