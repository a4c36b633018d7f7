"""Admission of writes: whether a copy of a list may merge a client's delta or state.

A causal CRDT trusts every context it merges: a context that claims a dot
makes the join drop that dot, and every later dot it covers. A client could
thus wipe a list with one empty state whose context claims a huge counter
for the list's replicas, and hide its owners' later adds. :func:`check_write`
is the gate in front of ``ShoppingList.merge`` for anything a client sent.
It decides from:

* the copy's **knowledge**: its stored state, plus any *witnesses* (other
  copies of the list, or deltas this copy has committed and not joined yet);
* the incoming **frame**, a delta or a full state;
* ``may_write``, which tells the replica ids the sender may mint dots under
  (from its key: :func:`crdt.replica_ids.may_write_for`).

Rules, for a frame to be merged
    1. *Own dots*: every dot the frame carries under a replica id the sender
       may not write is one the knowledge has seen (a full state relays
       other replicas' dots; it may not invent them).
    2. *Claims that exist*: for a replica the sender may not write, the
       frame's context claims only dots the knowledge has seen. For one it
       may write, at most ``max_new_dots`` beyond the highest the knowledge
       has seen of it (new operations of its own, within what one frame can
       hold).
    3. *Observed removes*: with ``observed`` (what the cluster has shown the
       sender), every live dot of another replica that the frame would
       remove is one the sender was shown.
    4. *Unaltered dots*: a dot the knowledge holds keeps its content.
    5. *Limits*: counters and sizes stay within :class:`WriteLimits`.

Outcomes (:data:`~crdt.verdicts.Verdict`)
    :class:`Accepted`: merge it. :class:`Refused`: the frame is invalid
    here and changes nothing; its ``kind`` says why. :class:`Undecided`:
    rules 1 or 2 fail against this copy, but this copy may lag behind the
    others, so the frame may be honest; it changes nothing either.

Copies that lag (``docs/security.md`` has the whole protocol)
    Knowledge that is genuine (accepted frames, and copies of them) never
    covers a forged dot: a lagging copy may fail to decide, but never
    accepts a forgery. An honest frame's claims were read from some copy,
    so it is accepted once the knowledge has caught up. Hence:

    * a server checks each client frame it stores against its copy, with
      its committed but unjoined deltas as ``witnesses``; it merges on
      :class:`Accepted`, and answers the others without writing;
    * an acceptance anywhere proves the frame genuine: the coordinator
      repairs the undecided copies from an acceptor and sends it again;
    * if no copy accepted, the coordinator fetches every owner's copy and
      checks the frame with them as ``witnesses``, with ``complete=True``
      only if every owner answered: claims still unseen are then refused
      (``Refused.retryable``: a write still in a hinted handoff is the only
      honest cause); with an owner missing, it answers "unavailable".

The rules are checked here; what the knowledge holds and the claims it
cannot vouch for are :mod:`crdt.knowledge`'s.

Pure code: no sockets, no threads, no I/O. Nothing passed in is changed (the
size check may warm encoding caches, which never changes any bytes).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Final

from crdt.context import CausalContext, Dot
from crdt.knowledge import (
    Content,
    Held,
    Unseen,
    by_replica,
    describe,
    frontier,
    items_of,
    knowledge,
    max_unseen,
    names_of,
)
from crdt.shopping_list import ShoppingList
from crdt.verdicts import Accepted, Refused, Verdict
from crdt.write_limits import DEFAULT_LIMITS, WriteLimits, size_excess

__all__ = ["MayWrite", "check_write", "own_additions"]

#: Whether the sender may mint dots under a replica id.
MayWrite = Callable[[str], bool]

_ACCEPTED: Final = Accepted()


def check_write(
    stored: ShoppingList | None,
    incoming: ShoppingList,
    may_write: MayWrite,
    *,
    observed: CausalContext | None = None,
    witnesses: Sequence[ShoppingList] = (),
    complete: bool = False,
    limits: WriteLimits = DEFAULT_LIMITS,
    stored_size: int | None = None,
    witness_sizes: Sequence[int | None] = (),
    incoming_size: int | None = None,
) -> Verdict:
    """Whether the copy ``stored`` may merge ``incoming``, a client's delta or state.

    Args:
        stored: this copy's state, or ``None`` if it has none of the list yet.
        incoming: the frame, decoded (``ShoppingList.decode`` checked its
            shape). The caller checks it is of the list it was sent for.
        may_write: true for the replica ids the sender may mint dots under.
        observed: the join of the contexts the cluster has shown the sender
            (replies to its reads, updates it was sent, its own accepted
            writes). ``None`` when the caller does not track it: then a frame
            may remove any live dot it names, observed or not (rule 3 off).
        witnesses: other genuine states of the list (other copies, or this
            copy's committed deltas not joined yet); they count as knowledge.
        complete: the caller vouches that ``stored`` and ``witnesses`` hold
            everything any copy has seen; what they have not seen then does
            not exist, and is refused instead of left undecided.
        limits: the bounds of :mod:`crdt.write_limits`.
        stored_size: ``stored``'s encoded size, if the caller has it (an
            upper bound will do: where the cheap bounds do not decide, the
            join is measured; the verdict is the same, only slower).
        witness_sizes: the witnesses' encoded sizes (or upper bounds), in
            their order, where the caller has them; the others are encoded.
        incoming_size: ``incoming``'s encoded size (or an upper bound), if
            the caller has it (the bytes it was decoded from).

    Returns:
        :class:`Accepted`, :class:`Refused` or :class:`Undecided` (never with
        ``complete``). Final refusals (all but the :data:`UnseenKind`\\ s) win
        over undecided claims; sizes are checked last, once the claims pass.

    Raises:
        ValueError: a witness is a state of another list.
    """
    if stored is not None and stored.list_id != incoming.list_id:
        return Refused(
            "wrong_list", f"the state is of list {incoming.list_id}, sent for {stored.list_id}"
        )
    if any(w.list_id != incoming.list_id for w in witnesses):
        raise ValueError("a witness is a state of another list")
    sources = [s for s in (stored, *witnesses) if s is not None]
    # The sizes of ``sources``, in their order: a list not stored yet has
    # none to give (its ``None`` made every Put of a new list miss the fast path).
    source_sizes = [*witness_sizes] if stored is None else [stored_size, *witness_sizes]
    contexts = [s.context for s in sources]
    if own_additions(contexts, incoming, may_write, limits, source_sizes, incoming_size):
        return _ACCEPTED
    claims = incoming.context
    refusal = _over_ceiling(claims, limits.max_counter)
    if refusal is not None:
        return refusal
    known = knowledge(sources)
    allowed = {replica: may_write(replica) for replica in claims.replicas()}
    unseen = Unseen()
    _check_claims(claims, known, allowed, limits.max_new_dots, unseen)
    refusal = _check_carried(incoming, sources, known, allowed, unseen)
    if refusal is None and observed is not None and not all(allowed.values()):
        refusal = _check_observed(incoming, sources, allowed, observed)
    if refusal is None and unseen:
        return unseen.verdict(known, limits.max_new_dots, complete)
    if refusal is None:
        sizes = [*witness_sizes[: len(witnesses)], *[None] * (len(witnesses) - len(witness_sizes))]
        parts = [] if stored is None else [(stored, stored_size)]
        parts += zip(witnesses, sizes, strict=True)
        excess = size_excess(parts, incoming, limits, incoming_size)
        if excess is not None:
            measure, value, cap = excess
            refusal = Refused(
                "too_large", f"the list would hold {value} {measure}, over the limit of {cap}"
            )
    return _ACCEPTED if refusal is None else refusal


# ------------------------------------------------------------------ the checks


def own_additions(
    contexts: Sequence[CausalContext],
    incoming: ShoppingList,
    may_write: MayWrite,
    limits: WriteLimits,
    sizes: Sequence[int | None],
    incoming_size: int | None,
) -> bool:
    """:func:`check_write`'s fast path, on the causal contexts of what the
    copy knows (its stored state, witnesses) and their encoded sizes (or
    upper bounds), in one order: nothing else of them is looked at, so a
    caller that holds a stored copy's context and size but not its items
    (a server's cold list, :mod:`actors.server.cold`) asks here first.
    ``True`` means :func:`check_write` accepts the frame.

    True for the common write, which every rule lets through: a frame
    that only adds operations of the sender's own replicas (it holds every
    dot it claims, so it removes nothing), each new to the knowledge and
    within ``max_new_dots`` of what it has seen of that replica and below
    the counter ceiling, on a list small enough that no size limit can be
    reached (the bytes of its parts bound every measure). ``False``: the
    rules decide, one by one.
    """
    claims = incoming.context
    if (
        len(claims) != incoming.dot_count()
        or len(claims) > _FAST_MAX_DOTS
        or incoming_size is None
        or len(sizes) < len(contexts)
        or any(n is None for n in sizes)
        or incoming_size + sum(n or 0 for n in sizes) > _small_bytes(limits)
    ):
        return False
    for replica, counter in claims.dots():
        if not may_write(replica) or counter > limits.max_counter:
            return False
        highest = 0
        for seen in contexts:
            if (replica, counter) in seen:
                return False  # sent before: its content must be compared
            highest = max(highest, seen.max_counter(replica))
        if counter > highest + limits.max_new_dots:
            return False
    return True


#: Dots of a frame the fast path looks at (an add or acquire carries one).
_FAST_MAX_DOTS: Final = 64


@functools.cache
def _small_bytes(limits: WriteLimits) -> int:
    """Parts whose encodings add up to fewer bytes cannot reach any limit:
    a replica id takes at least 2 bytes, an item 8, a dot or a cloud entry
    3, the join has at most what its parts have, and its bytes at most
    three times theirs (indices and headers widen; see merged_size_bound).
    Cached: limits are frozen, and the fast path asks on every write."""
    return min(
        limits.max_replicas * 2,
        limits.max_items * 8,
        limits.max_dots * 3,
        limits.max_bytes // 3,
    )


def _over_ceiling(claims: CausalContext, max_counter: int) -> Refused | None:
    """Rule 5 for counters: a state's dots all lie inside its context, so its
    context's counters bound every counter it holds."""
    high = [(n, r) for r, n in claims.vv.items() if n > max_counter]
    high += [(n, r) for r, n in claims.cloud if n > max_counter]
    if not high:
        return None
    counter, replica = max(high)
    return Refused(
        "counter_ceiling",
        f"the causal context holds counter {counter} of replica {replica!r}, above the "
        f"ceiling of {max_counter}: later operations of that replica would not encode",
    )


def _check_claims(
    claims: CausalContext,
    known: CausalContext,
    allowed: Mapping[str, bool],
    max_new_dots: int,
    unseen: Unseen,
) -> None:
    """Rule 2: what the context claims of each replica, against the knowledge."""
    claimed_cloud = by_replica(claims.cloud)
    known_cloud = by_replica(known.cloud)
    for replica, own in allowed.items():
        extra = claimed_cloud.get(replica, set())
        if own:
            top = max(claims.vv.get(replica, 0), max(extra, default=0))
            if top > frontier(known, replica, known_cloud) + max_new_dots:
                unseen.add("counter_jump", replica, top)
            continue
        n = max_unseen(
            claims.vv.get(replica, 0), extra, known.vv.get(replica, 0), known_cloud.get(replica)
        )
        if n:
            unseen.add("forged_context", replica, n)


def _check_carried(
    incoming: ShoppingList,
    sources: Sequence[ShoppingList],
    known: CausalContext,
    allowed: Mapping[str, bool],
    unseen: Unseen,
) -> Refused | None:
    """Rules 1 and 4: every dot the frame stores is its sender's, or a known one
    relayed unchanged."""
    held = Held(sources)
    carried: list[tuple[Dot, Content]] = list(names_of(incoming).items())
    for item, dots in items_of(incoming).items():
        carried += [(dot, (item, counts)) for dot, counts in dots.items()]
    for dot, content in carried:
        if dot in known:
            before = held.content(dot, content)
            if before is not None and before != content:
                return Refused(
                    "altered_dot",
                    f"dot {dot[0]!r}:{dot[1]} is {describe(before)} in the list, but "
                    f"{describe(content)} in the state: an operation's content never changes",
                )
        elif not allowed[dot[0]]:
            unseen.add("forged_dot", dot[0], dot[1])
    return None


def _check_observed(
    incoming: ShoppingList,
    sources: Sequence[ShoppingList],
    allowed: Mapping[str, bool],
    observed: CausalContext,
) -> Refused | None:
    """Rule 3: the live dots of other replicas that the frame would drop.

    A dot held by any source counts as live, even one another source has
    dropped already: removing it again is harmless, but an honest sender
    never claims a dot it was not shown, so the check costs it nothing.
    """
    claims, theirs, their_names = incoming.context, items_of(incoming), names_of(incoming)
    for source in sources:
        live: list[tuple[Dot, str | None]] = [(d, None) for d in names_of(source)]
        live += [(d, item) for item, dots in items_of(source).items() for d in dots]
        for dot, item in live:
            if dot not in claims or allowed[dot[0]] or dot in observed:
                continue
            kept = dot in their_names if item is None else dot in theirs.get(item, {})
            if not kept:
                what = "the list name" if item is None else f"item {item!r}"
                return Refused(
                    "unobserved",
                    f"the state would remove {what} (dot {dot[0]!r}:{dot[1]}), which the "
                    "cluster never showed the sender: read the list before editing it",
                )
    return None
