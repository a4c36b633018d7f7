"""The proxy's record of what each client was shown of each list."""

from __future__ import annotations

from actors.proxy.observed import ObservedContexts
from crdt import CausalContext, observed_context

LIST = "c0ffee00-0000-4000-8000-000000000000"


def test_the_record_joins_what_each_client_was_shown_and_is_bounded() -> None:
    record = ObservedContexts(size=2)
    record.saw("k1", LIST, CausalContext({"a.1": 2}))
    record.saw("k1", LIST, CausalContext({"b.1": 1}))
    assert CausalContext({"a.1": 2, "b.1": 1}) == observed_context(record.blob("k1", LIST))
    assert CausalContext() == observed_context(record.blob("k2", LIST))
    record.saw("k2", LIST, CausalContext({"a.1": 1}))
    record.saw("k3", LIST, CausalContext({"a.1": 1}))
    assert 2 == len(record)
