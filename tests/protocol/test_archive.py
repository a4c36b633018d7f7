"""Deleting a list for everyone on the wire: the Archive request, the access
list's ``archived`` flag, and the ``deleted`` answer."""

from __future__ import annotations

import msgspec
import pytest

from protocol import AccessState, Archive, ErrorReply, ProtocolError, decode, encode
from tests.protocol.strategies import KEY, LIST_ID

_ACCESS = msgspec.msgpack.Decoder(AccessState)


def test_archive_round_trips() -> None:
    msg = Archive(msg_id="m-1", list_id=LIST_ID)
    assert msg == decode(encode(msg))


def test_archive_without_a_list_id_is_a_bad_shape() -> None:
    frame = msgspec.msgpack.encode(["Archive", 1, "m-1", "", "client", False])
    with pytest.raises(ProtocolError) as info:
        decode(frame)
    assert "bad_shape" == info.value.fault


def test_an_access_list_stored_before_the_flag_decodes_as_not_archived() -> None:
    old = msgspec.msgpack.encode([KEY, [[KEY, 1, 0]], []])
    assert AccessState(owner=KEY, members=[(KEY, 1, 0)], invites=[]) == _ACCESS.decode(old)


def test_the_archived_flag_round_trips() -> None:
    state = AccessState(owner=KEY, members=[], invites=[], archived=True)
    assert state == _ACCESS.decode(msgspec.msgpack.encode(state))


def test_deleted_is_an_error_code() -> None:
    reply = ErrorReply(msg_id="m-2", reply_to="m-1", code="deleted", reason="gone")
    assert reply == decode(encode(reply))
