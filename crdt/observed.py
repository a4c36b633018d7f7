"""What the cluster has shown a client of a list: a causal context, on the wire.

The write gate's rule 3 (:func:`crdt.validation.check_write`, ``observed``)
needs, per client and list, the join of the contexts the cluster has shown
that client. The proxy keeps it and sends it with each of the client's
writes (``Store.observed``) as the wire form of a state with that context
and no items, so that a replica decodes it with every check of a state.

:func:`peek_context` reads only the context of a state the cluster itself
made (a read's answer, a saved write): it decodes the four leading fields
and skips the items, so the proxy can follow what it shows clients at a
fraction of a full decode. Pure code.
"""

from __future__ import annotations

from typing import Final

import msgspec

from crdt.context import CausalContext
from crdt.shopping_list import ShoppingList
from protocol import ListState, ProtocolError, StateHead, encode_state

__all__ = ["observed_blob", "observed_context", "peek_context", "peek_head"]


_HEAD: Final = msgspec.msgpack.Decoder(StateHead)


def peek_context(blob: bytes) -> CausalContext:
    """The causal context of a state the cluster made.

    Raises:
        ProtocolError: the blob is not shaped like a state.
    """
    return peek_head(blob)[1]


def peek_head(blob: bytes) -> tuple[StateHead, CausalContext]:
    """A state the cluster made, read for its head, and its causal context.

    Raises:
        ProtocolError: the blob is not shaped like a state.
    """
    try:
        head = _HEAD.decode(blob)
        replicas = head.replicas
        ctx = CausalContext(
            {r: n for r, n in zip(replicas, head.vv, strict=True) if n},
            [(replicas[i], n) for i, n in head.cloud],
        )
    except (msgspec.DecodeError, ValueError, IndexError) as exc:
        raise ProtocolError(f"not a list state: {exc}", fault="bad_state") from None
    return head, ctx


def observed_blob(list_id: str, ctx: CausalContext) -> bytes:
    """The wire form of ``ctx`` as ``Store.observed`` carries it."""
    order = sorted(ctx.replicas())
    index = {r: i for i, r in enumerate(order)}
    return encode_state(
        ListState(
            list_id=list_id,
            replicas=order,
            vv=[ctx.vv.get(r, 0) for r in order],
            cloud=sorted((index[r], n) for r, n in ctx.cloud),
            names=[],
            items=[],
        )
    )


def observed_context(blob: bytes | None) -> CausalContext | None:
    """The context ``Store.observed`` carries; ``None`` for ``None`` (not tracked).

    Raises:
        ProtocolError: it does not decode as a state (every check of one applies).
    """
    if blob is None:
        return None
    return ShoppingList.decode(blob).context
