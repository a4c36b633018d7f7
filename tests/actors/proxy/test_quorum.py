"""actors.proxy.quorum.Request.outcome and failure: what a request's counts decide.

* a write is answered once W slots committed; a read once R held a copy, or
  every slot answered and R did (not-founds count only when no owner is left);
* while answers can still reach the need, the request is pending;
* once they cannot: copies that could not decide are verified first (once),
  the request waits while that runs, and otherwise it fails;
* a failure is ``bad_request`` when refusals alone leave too few slots,
  else ``unavailable``.
"""

from __future__ import annotations

import uuid

from actors.proxy.quorum import Request, RequestKind, Slot
from protocol import Get, Put

LIST_ID = str(uuid.uuid4())


def _request(kind: RequestKind, need: int = 2, slots: int = 3) -> Request:
    msg = (
        Get(msg_id="m", sender="c", list_id=LIST_ID)
        if kind == "get"
        else Put(msg_id="m", sender="c", list_id=LIST_ID, state=b"")
    )
    owners = [f"s{k}" for k in range(slots)]
    req = Request(kind, b"peer", msg, owners, [], set(owners), need)
    req.slots = [Slot(owner) for owner in owners]
    req.active = slots
    return req


def test_a_write_is_answered_at_w_commits_and_pending_before() -> None:
    """W acknowledgements answer it; fewer, with slots still active, wait."""
    req = _request("put")
    req.finish(req.slots[0], "ok")
    assert "pending" == req.outcome()
    req.finish(req.slots[1], "ok")
    assert "answer" == req.outcome()


def test_a_read_counts_not_founds_only_once_no_owner_is_left() -> None:
    """Two empty answers of three do not answer a read while the third may hold it."""
    req = _request("get")
    req.finish(req.slots[0], "ok")
    req.finish(req.slots[1], "ok")
    assert "pending" == req.outcome()
    req.finish(req.slots[2], "ok")
    assert "answer" == req.outcome()
    found = _request("get")
    found.finish(found.slots[0], "ok")
    found.finish(found.slots[1], "ok")
    found.found = 2
    assert "answer" == found.outcome()


def test_too_few_slots_left_verify_undecided_copies_first_then_fail() -> None:
    """Undecided copies are verified once; while the checks run the request
    waits; without them it fails."""
    req = _request("put")
    req.finish(req.slots[0], "undecided")
    req.finish(req.slots[1], "failed")
    assert "escalate" == req.outcome()
    req.escalated, req.checking = True, 2
    assert "verifying" == req.outcome()
    req.checking = 0
    assert "fail" == req.outcome()


def test_a_failure_is_the_clients_when_refusals_alone_leave_too_few_slots() -> None:
    """Two refusals of three leave one slot for a need of two: bad_request;
    two failed replicas: unavailable."""
    refused = _request("put")
    refused.refusals, refused.refused = 2, "forged dot"
    assert ("bad_request", "refused by a replica: forged dot") == refused.failure()
    down = _request("put")
    down.finish(down.slots[0], "failed")
    down.finish(down.slots[1], "failed")
    down.finish(down.slots[2], "ok")
    assert ("unavailable", "only 1 of the 2 replicas needed answered") == down.failure()
