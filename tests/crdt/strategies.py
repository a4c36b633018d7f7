"""Hypothesis strategies that build reachable shopping-list states.

A *history* is a list of steps run against a few replicas: local operations
(add, acquire, remove, rename) and merges of one replica's state or last
delta into another. Running it yields states that the real system could
reach, which is what the lattice laws are stated for.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from hypothesis import strategies as st

from crdt import (
    Accepted,
    CausalContext,
    Dot,
    ShoppingList,
    Undecided,
    Verdict,
    check_write,
    may_write_for,
    replica_id_for,
)
from crdt.context import Counts
from protocol import encode_state
from protocol.state import ItemState, ListState

LIST_ID = str(uuid.UUID(int=0x1234, version=4))
ITEMS = ("milk", "eggs", "bread", "tea")
NAMES = ("groceries", "party", "")


@dataclass
class Replicas:
    """A few replicas of one list plus every delta each one produced."""

    lists: list[ShoppingList]
    deltas: list[list[ShoppingList]] = field(default_factory=list)
    ops: int = 0

    @classmethod
    def new(cls, count: int) -> Replicas:
        lists = [ShoppingList(LIST_ID, f"r{i}") for i in range(count)]
        return cls(lists, [[] for _ in range(count)])

    def apply(self, step: tuple[str, int, int, str, int]) -> None:
        kind, i, j, item, qty = step
        i %= len(self.lists)
        j %= len(self.lists)
        replica = self.lists[i]
        delta: ShoppingList | None = None
        if kind == "add":
            delta = replica.add(item, qty)
        elif kind == "acquire" and replica.remaining(item) > 0:
            delta = replica.acquire(item, min(qty, replica.remaining(item)))
        elif kind == "remove" and replica.lookup(item):
            delta = replica.remove(item)
        elif kind == "rename":
            delta = replica.rename(NAMES[qty % len(NAMES)] or item)
        elif kind == "merge_state":
            replica.merge(self.lists[j])
        elif kind == "merge_delta" and self.deltas[j]:
            replica.merge(self.deltas[j][qty % len(self.deltas[j])])
        if delta is not None:
            self.deltas[i].append(delta)
            self.ops += 1


step = st.tuples(
    st.sampled_from(
        ["add", "add", "acquire", "remove", "rename", "merge_state", "merge_delta", "merge_delta"]
    ),
    st.integers(0, 4),
    st.integers(0, 4),
    st.sampled_from(ITEMS),
    st.integers(1, 5),
)


@st.composite
def replicas(draw: st.DrawFn, min_replicas: int = 2, max_replicas: int = 4) -> Replicas:
    """Replicas after a random history."""
    count = draw(st.integers(min_replicas, max_replicas))
    reps = Replicas.new(count)
    for s in draw(st.lists(step, max_size=40)):
        reps.apply(s)
    return reps


@st.composite
def three_states(draw: st.DrawFn) -> tuple[ShoppingList, ShoppingList, ShoppingList]:
    """Three reachable states (full states or deltas) of the same list."""
    reps = draw(replicas(min_replicas=3, max_replicas=4))
    pool = list(reps.lists) + [d for ds in reps.deltas for d in ds]
    picks = draw(st.lists(st.sampled_from(pool), min_size=3, max_size=3))
    a, b, c = (p.copy() for p in picks)
    return a, b, c


# ------------------------------------------- write admission (test_validation)
#
# A model of the cluster as crdt.validation sees it: devices (clients) that
# edit, pull copies, talk to each other directly and send deltas and full
# states; copies (servers) that receive those frames late and in any order,
# check each one, and gossip (anti-entropy). Every device is honest, so no
# frame it sends may be refused.

#: Three keys; devices 0 and 1 share the first (one person's phone and laptop).
KEYS = tuple(bytes([k + 1]) * 32 for k in range(3))
DEVICE_KEYS = (0, 0, 1, 2)


Stores = tuple[CausalContext, dict[Dot, str], dict[str, dict[Dot, Counts]]]


def parts(state: ShoppingList) -> Stores:
    """A list's context and stores, read from its wire form."""
    wire = state.to_state()
    reps = wire.replicas
    cloud = [(reps[i], n) for i, n in wire.cloud]
    ctx = CausalContext(dict(zip(reps, wire.vv, strict=True)), cloud)
    names = {(reps[i], n): name for i, n, name in wire.names}
    items = {it.name: {(reps[i], n): (a, b) for i, n, a, b in it.dots} for it in wire.items}
    return ctx, names, items


def build_list(
    ctx: CausalContext,
    names: dict[Dot, str] | None = None,
    items: dict[str, dict[Dot, Counts]] | None = None,
    list_id: str = LIST_ID,
) -> ShoppingList:
    """A list as a client could send it: built on the wire and decoded from bytes.

    Every stored dot joins the context, as the codec requires.
    """
    names, items = names or {}, items or {}
    ctx = ctx.copy()
    for dot in [*names, *(d for dots in items.values() for d in dots)]:
        ctx.add(dot)
    order = sorted(ctx.replicas())
    index = {r: i for i, r in enumerate(order)}
    wire = ListState(
        list_id=list_id,
        replicas=order,
        vv=[ctx.vv.get(r, 0) for r in order],
        cloud=sorted((index[r], n) for r, n in ctx.cloud),
        names=sorted((index[r], n, name) for (r, n), name in names.items()),
        items=[
            ItemState(name, tuple(sorted((index[r], n, a, b) for (r, n), (a, b) in dots.items())))
            for name, dots in sorted(items.items())
            if dots
        ],
    )
    return ShoppingList.decode(encode_state(wire))


def joined(states: list[ShoppingList]) -> ShoppingList:
    """The join of ``states`` (an empty list when there are none)."""
    out = ShoppingList(LIST_ID, "")
    for state in states:
        out.merge(state)
    return out


@dataclass
class Device:
    """One honest client: its replica, its unsent edits, and what it was shown."""

    key: bytes
    state: ShoppingList
    pending: ShoppingList | None = None
    observed: CausalContext = field(default_factory=CausalContext)
    #: learnt of dots from another device directly, not from a copy
    peered: bool = False

    def may_write(self, replica_id: str) -> bool:
        return may_write_for(self.key)(replica_id)


@dataclass(frozen=True)
class Frame:
    """A delta or full state in flight, with what its sender had observed."""

    sender: int
    state: ShoppingList
    observed: CausalContext
    peered: bool


@dataclass
class Delivery:
    """One frame checked by one copy: the verdict, and if that was undecided,
    the verdict once the copy asked the others (and, if the sender learnt
    from a device directly, that device too)."""

    frame: Frame
    copy: int
    verdict: Verdict
    resolved: Verdict | None


@dataclass
class Cluster:
    devices: list[Device]
    copies: list[ShoppingList | None]
    in_flight: list[list[Frame]]
    sent: list[Frame] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)

    @classmethod
    def new(cls, copies: int = 3) -> Cluster:
        devices = []
        for d, k in enumerate(DEVICE_KEYS):
            rid = replica_id_for(KEYS[k], f"dev{d}")
            devices.append(Device(KEYS[k], ShoppingList(LIST_ID, rid)))
        first = devices[0]
        first.pending = first.state.rename("groceries")  # the list's creation
        return cls(devices, [None] * copies, [[] for _ in range(copies)])

    def apply(self, action: tuple[str, int, int, str, int]) -> None:
        """One step: ``(kind, device or copy, copy or device, item, number)``."""
        kind, a, b, item, qty = action
        dev = self.devices[a % len(self.devices)]
        c = b % len(self.copies)
        if kind == "edit":
            self._edit(dev, item, qty)
        elif kind in ("push", "send_delta", "send_state"):
            state = dev.state if kind == "send_state" else dev.pending
            if state is not None:
                sender = self.devices.index(dev)
                frame = Frame(sender, state.copy(), dev.observed.copy(), dev.peered)
                self.sent.append(frame)
                if kind == "push":  # the coordinator's Stores, to W copies from c on
                    for k in range(2):
                        self._deliver((c + k) % len(self.copies), frame, repair=qty < 3)
                else:
                    self.in_flight[c].append(frame)
                if kind != "send_state" and qty % 2:
                    dev.pending = None  # saved, as far as the device knows
        elif kind == "deliver" and self.in_flight[c]:
            self._deliver(c, self.in_flight[c].pop(qty % len(self.in_flight[c])), repair=qty < 3)
        elif kind == "pull" and (copy := self.copies[c]) is not None:
            dev.state.merge(copy)
            dev.observed.update(copy.context)
        elif kind == "peer":
            other = self.devices[b % len(self.devices)]
            if other is not dev:
                other.state.merge(dev.state)
                other.observed.update(dev.state.context)
                other.peered = True
        elif kind == "gossip" and (source := self.copies[a % len(self.copies)]) is not None:
            target = self.copies[c]
            self.copies[c] = source.copy(replica_id="") if target is None else target
            if target is not None:
                target.merge(source)

    def _edit(self, dev: Device, item: str, qty: int) -> None:
        state = dev.state
        if qty == 5:
            delta = state.rename(NAMES[0])
        elif qty == 4 and state.lookup(item):
            delta = state.remove(item)
        elif qty == 3 and state.remaining(item) > 0:
            delta = state.acquire(item, 1)
        else:
            delta = state.add(item, qty)
        if dev.pending is None:
            dev.pending = delta
        else:
            dev.pending.merge(delta)

    def _deliver(self, c: int, frame: Frame, repair: bool) -> None:
        sender = self.devices[frame.sender]
        copy = self.copies[c]
        verdict = check_write(copy, frame.state, sender.may_write, observed=frame.observed)
        resolved: Verdict | None = None
        if isinstance(verdict, Undecided):
            others = [o for i, o in enumerate(self.copies) if i != c and o is not None]
            peers = [d.state for d in self.devices] if frame.peered else []
            resolved = check_write(
                copy,
                frame.state,
                sender.may_write,
                observed=frame.observed,
                witnesses=others + peers,
                complete=True,
            )
            if repair and not frame.peered and isinstance(resolved, Accepted):
                # The coordinator's repair: the copy takes the others', then the frame.
                copy = self.copies[c] = joined([o for o in (copy, *others) if o is not None])
                verdict = check_write(copy, frame.state, sender.may_write, observed=frame.observed)
        self.deliveries.append(Delivery(frame, c, verdict, resolved))
        if isinstance(verdict, Accepted):
            if copy is None:
                self.copies[c] = frame.state.copy(replica_id="")
            else:
                copy.merge(frame.state)

    def knowledge(self) -> ShoppingList:
        """Every copy joined: what the cluster has seen."""
        return joined([c for c in self.copies if c is not None])


cluster_action = st.tuples(
    st.sampled_from(
        ["edit"] * 5
        + ["push"] * 3
        + ["send_delta", "send_state", "deliver", "deliver"]
        + ["pull"] * 3
        + ["peer", "gossip"]
    ),
    st.integers(0, 3),
    st.integers(0, 3),
    st.sampled_from(ITEMS),
    st.integers(1, 5),
)


@st.composite
def clusters(draw: st.DrawFn, max_actions: int = 60) -> Cluster:
    """A cluster after a random honest history (every delivery already checked)."""
    cluster = Cluster.new(draw(st.integers(2, 3)))
    cluster.apply(("push", 0, 0, "", 1))  # the list's creation, saved
    for action in draw(st.lists(cluster_action, min_size=max_actions // 3, max_size=max_actions)):
        cluster.apply(action)
    # whatever is still in flight arrives, in an order hypothesis picks
    for c, frames in enumerate(cluster.in_flight):
        for k in draw(st.permutations(range(len(frames)))):
            cluster._deliver(c, frames[k], repair=draw(st.booleans()))
        frames.clear()
    return cluster
