"""Replica ids derived from clients' public keys: who may mint which dots.

A replica id names the author of every dot minted under it, so the cluster
must be able to tell from a replica id alone which client may write under
it. The id is derived from the client's public key::

    <key tag>.<device>      e.g. 3f9a...c01e.a41b9c2d
                                 (32 hex)   (device)

* the **key tag** is the first :data:`TAG_BYTES` bytes (128 bits) of the
  client's 32-byte CURVE public key, in lowercase hex. Keys travel in Z85
  (ZeroMQ's text form); the transport decodes them to bytes first. Hex, not
  Z85, because Z85's alphabet contains ``.``; 128 bits, because making a
  key whose tag equals another's takes about 2**128 key generations;
* the **device** is a short name of ``[0-9a-z]`` that one key's devices
  choose apart (the client store draws one at random when it is created,
  as it draws the ``<client id>.<8 hex>`` suffix of today's ids), so that
  two devices of one user never mint the same dot.

Every device of a key may write under every replica id of that key: the
key is the unit of trust (:func:`may_write_for`). Ids of another shape,
such as the ``<client id>.<8 hex>`` ids of lists written before keys,
belong to no key: their dots stay, and anyone who observed them may remove
them, but no one can mint new ones.

Pure code: no sockets, no threads, no I/O.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Final

__all__ = [
    "KEY_BYTES",
    "MAX_REPLICA_ID_CHARS",
    "TAG_BYTES",
    "key_tag",
    "may_write_for",
    "replica_id_for",
    "writer_of",
]

#: A CURVE25519 public key, as ZeroMQ's CURVE mechanism uses.
KEY_BYTES: Final = 32
#: Bytes of the key that name it in a replica id.
TAG_BYTES: Final = 16
_DEVICE_CHARS: Final = 32
_REPLICA_ID: Final = re.compile(rf"([0-9a-f]{{{2 * TAG_BYTES}}})\.[0-9a-z]{{1,{_DEVICE_CHARS}}}\Z")
#: The longest replica id of this shape; within the codec's ``MAX_ID_CHARS``.
MAX_REPLICA_ID_CHARS: Final = 2 * TAG_BYTES + 1 + _DEVICE_CHARS


def key_tag(public_key: bytes) -> str:
    """The tag that names ``public_key`` in replica ids.

    Raises:
        ValueError: ``public_key`` is not :data:`KEY_BYTES` bytes.
    """
    if not isinstance(public_key, bytes) or len(public_key) != KEY_BYTES:
        raise ValueError(f"a public key is {KEY_BYTES} bytes (decode Z85 first)")
    return public_key[:TAG_BYTES].hex()


def replica_id_for(public_key: bytes, device: str) -> str:
    """The replica id under which ``device`` of the key's owner edits.

    Raises:
        ValueError: the key is malformed, or ``device`` is not 1 to 32
            characters of ``[0-9a-z]``.
    """
    replica_id = f"{key_tag(public_key)}.{device}"
    if not isinstance(device, str) or _REPLICA_ID.fullmatch(replica_id) is None:
        raise ValueError(f"a device name is 1 to {_DEVICE_CHARS} characters of [0-9a-z]")
    return replica_id


@functools.lru_cache(maxsize=16_384)
def writer_of(replica_id: str) -> str | None:
    """The key tag of the key that may write under ``replica_id``, or ``None``
    for an id no key owns (a legacy or malformed id).

    Cached (bounded): a server's write gate asks for every dot a client's
    frame mints, and the same few writers write again and again."""
    match = _REPLICA_ID.fullmatch(replica_id)
    return None if match is None else match.group(1)


def may_write_for(public_key: bytes) -> Callable[[str], bool]:
    """The ``may_write`` predicate of :func:`crdt.validation.check_write` for a
    client authenticated with ``public_key``: true for its replica ids only.

    Raises:
        ValueError: the key is malformed.
    """
    tag = key_tag(public_key)

    def may_write(replica_id: str) -> bool:
        return writer_of(replica_id) == tag

    return may_write
