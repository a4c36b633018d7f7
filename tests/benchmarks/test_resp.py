"""RESP encoding and incremental parsing (benchmarks/resp.py): pure."""

from __future__ import annotations

import pytest

from benchmarks.resp import RespError, RespParser, encode_command


def test_a_command_is_an_array_of_bulk_strings() -> None:
    assert b"*3\r\n$4\r\nWAIT\r\n$1\r\n2\r\n$4\r\n1000\r\n" == encode_command("WAIT", 2, 1000)
    assert b"*1\r\n$0\r\n\r\n" == encode_command(b"")


def test_every_reply_type_is_parsed() -> None:
    parser = RespParser()
    parser.feed(b"+OK\r\n-ERR no\r\n:42\r\n$3\r\nabc\r\n$-1\r\n*2\r\n$1\r\na\r\n:1\r\n*0\r\n")
    assert "OK" == parser.pop()
    err = parser.pop()
    assert isinstance(err, RespError)
    assert "ERR no" == str(err)
    assert 42 == parser.pop()
    assert b"abc" == parser.pop()
    assert parser.pop() is None
    assert [b"a", 1] == parser.pop()
    assert [] == parser.pop()
    assert not parser.replies


def test_replies_split_at_any_byte_come_out_whole_and_in_order() -> None:
    stream = b":7\r\n*2\r\n$5\r\nhello\r\n*1\r\n:-3\r\n$2\r\n\r\n\r\n"
    for cut in range(len(stream) + 1):
        parser = RespParser()
        parser.feed(stream[:cut])
        parser.feed(stream[cut:])
        assert [7, [b"hello", [-3]], b"\r\n"] == list(parser.replies)


def test_an_incomplete_reply_waits_for_more_bytes() -> None:
    parser = RespParser()
    parser.feed(b"$5\r\nhel")
    with pytest.raises(IndexError):
        parser.pop()
    parser.feed(b"lo\r\n")
    assert b"hello" == parser.pop()


def test_bytes_that_are_not_resp_are_refused() -> None:
    with pytest.raises(ValueError, match="not RESP"):
        RespParser().feed(b"?what\r\n")
