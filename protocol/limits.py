"""Size limits shared by the codec, the sockets and the CRDT.

Every limit here bounds memory that a remote peer can make us allocate. The
socket layer sets ``zmq.MAXMSGSIZE`` from :data:`MAX_FRAME_BYTES`, so a frame
over the limit never reaches the decoder; the decoder checks again because
frames can also come from files and tests.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "MAX_BATCH_ITEMS",
    "MAX_CONTROL_FRAME_BYTES",
    "MAX_DOTS",
    "MAX_FRAME_BYTES",
    "MAX_ID_CHARS",
    "MAX_ITEMS",
    "MAX_ITEM_NAME_CHARS",
    "MAX_LIST_NAME_CHARS",
    "MAX_QUANTITY",
    "MAX_REASON_CHARS",
    "MAX_REPLICAS",
    "MAX_STATE_BYTES",
]

#: Largest frame on a data socket (client and server traffic).
MAX_FRAME_BYTES: Final = 8 * 1024 * 1024
#: Largest frame on a control socket (hello/ack, reach/online).
MAX_CONTROL_FRAME_BYTES: Final = 256 * 1024
#: Largest encoded list state or delta carried inside a message.
MAX_STATE_BYTES: Final = 4 * 1024 * 1024
#: Node, replica, message and trace ids.
MAX_ID_CHARS: Final = 128
MAX_ITEM_NAME_CHARS: Final = 200
MAX_LIST_NAME_CHARS: Final = 200
MAX_REASON_CHARS: Final = 1000
#: Items on one list, distinct replicas in one state, dots in one state.
MAX_ITEMS: Final = 100_000
MAX_REPLICAS: Final = 10_000
MAX_DOTS: Final = 1_000_000
#: Entries of one batch message (``StoreBatch.items``, ``StoredBatch.reply_to``);
#: a process splits larger batches (``protocol.batching``).
MAX_BATCH_ITEMS: Final = 10_000
#: Largest quantity one operation may add or acquire; keeps sums in int64.
MAX_QUANTITY: Final = 1_000_000_000
