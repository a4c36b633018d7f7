"""A minimal RESP2 client for the Redis comparison: commands encoded, replies
parsed incrementally from a raw socket's bytes (so one connection can keep
a true sliding window of requests outstanding; Redis answers in order).

Pure apart from :class:`RespConnection`, which owns one socket.
"""

from __future__ import annotations

import socket
from collections import deque
from typing import Final, TypeAlias

__all__ = ["Reply", "RespConnection", "RespError", "RespParser", "encode_command"]

_CRLF: Final = b"\r\n"


class RespError(Exception):
    """An error reply (``-ERR ...``); returned as a reply, raised by :meth:`RespConnection.call`."""


#: A parsed reply: simple string (str), error (RespError), integer, bulk
#: string (bytes, or None for a null), array (list, or None for a null).
Reply: TypeAlias = "str | int | bytes | list[Reply] | RespError | None"


def encode_command(*args: bytes | str | int) -> bytes:
    """``args`` as one RESP array of bulk strings (how clients send commands)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        raw = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(parts)


class RespParser:
    """Replies out of a byte stream fed in arbitrary pieces.

    :meth:`feed` appends bytes; :meth:`pop` returns complete replies in
    order (an incomplete one waits for more bytes).

    Raises (from :meth:`feed`):
        ValueError: the bytes are not RESP.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0
        self.replies: deque[Reply] = deque()

    def feed(self, data: bytes) -> None:
        """Add ``data`` and parse every reply it completes into :attr:`replies`."""
        self._buf += data
        while True:
            parsed = self._parse(self._pos)
            if parsed is None:
                break
            reply, self._pos = parsed
            self.replies.append(reply)
        if self._pos > 65536 or self._pos == len(self._buf):  # drop what was parsed
            del self._buf[: self._pos]
            self._pos = 0

    def _line(self, pos: int) -> tuple[bytes, int] | None:
        end = self._buf.find(_CRLF, pos)
        if end < 0:
            return None
        return bytes(self._buf[pos:end]), end + 2

    def _parse(self, pos: int) -> tuple[Reply, int] | None:
        if pos >= len(self._buf):
            return None
        kind = self._buf[pos : pos + 1]
        line = self._line(pos + 1)
        if line is None:
            return None
        text, pos = line
        if kind == b"+":
            return text.decode(), pos
        if kind == b"-":
            return RespError(text.decode()), pos
        if kind == b":":
            return int(text), pos
        if kind == b"$":
            size = int(text)
            if size < 0:
                return None, pos
            if len(self._buf) < pos + size + 2:
                return None
            return bytes(self._buf[pos : pos + size]), pos + size + 2
        if kind == b"*":
            count = int(text)
            if count < 0:
                return None, pos
            items: list[Reply] = []
            for _ in range(count):
                parsed = self._parse(pos)
                if parsed is None:
                    return None
                item, pos = parsed
                items.append(item)
            return items, pos
        raise ValueError(f"not RESP: type byte {kind!r}")

    def pop(self) -> Reply:
        """The oldest complete reply.

        Raises:
            IndexError: none is complete yet.
        """
        return self.replies.popleft()


class RespConnection:
    """One TCP connection to a Redis server, every wait bounded by ``timeout_s``."""

    def __init__(self, host: str, port: int, timeout_s: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout_s)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.parser = RespParser()

    def send(self, data: bytes) -> None:
        """Send encoded commands (see :func:`encode_command`)."""
        self.sock.sendall(data)

    def read(self) -> Reply:
        """The next reply, reading as needed.

        Raises:
            TimeoutError: nothing came for ``timeout_s``.
            ConnectionError: the server closed the connection.
        """
        while not self.parser.replies:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("redis closed the connection")
            self.parser.feed(data)
        return self.parser.pop()

    def call(self, *args: bytes | str | int) -> Reply:
        """One command, its reply.

        Raises:
            RespError: the server answered with an error.
        """
        self.send(encode_command(*args))
        reply = self.read()
        if isinstance(reply, RespError):
            raise reply
        return reply

    def close(self) -> None:
        self.sock.close()
