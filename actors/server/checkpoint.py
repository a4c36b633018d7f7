"""WAL checkpoints of a server's store, off the thread that answers its Stores.

SQLite in WAL mode appends every commit to the ``-wal`` file; a
*checkpoint* copies those pages into the database file and syncs both, so
that the WAL can start over. By default the connection that commits runs
one itself whenever the WAL passes 1,000 pages: on a server that is the
bridge thread, which then answers no Store while it copies and syncs
(7.8% of a loaded server's samples, with ``fdatasync`` in the middle of
the write path).

:class:`Checkpointer` moves that work to a thread of its own with a
connection of its own: the store's connection sets ``wal_autocheckpoint=0``
and this thread runs ``PRAGMA wal_checkpoint(PASSIVE)`` every
``interval_s``. A passive checkpoint never blocks the writer (it copies
what no reader still needs, and the writer starts the WAL over on its next
commit once everything was copied), and :mod:`sqlite3` releases the GIL
while it works, so the copy and the sync overlap the writes on a second
core. Durability is unchanged: a commit is in the WAL when the store
returns (synced too with ``durability = "full"``); a checkpoint only moves
committed pages.

A passive checkpoint lets the WAL start over only once it copied every
frame, and a writer that commits all the time (a preload, a bench) always
adds some while it copies: the WAL then grew without end (1.4 GB after
50,000 new lists), and every page read searched more of its index. So once
the thread's last checkpoint found more than :data:`RESTART_FRAMES` in the
WAL, the store's thread, between two writes (its tick), finishes the job
with one passive checkpoint of its own (:meth:`Checkpointer.catch_up`):
it copies only what was committed since the thread's checkpoint, and no
write can come in meanwhile, so its next write starts the WAL over.

If the thread has stopped (it died, or was never started), the store goes
back to SQLite's own checkpoints (:meth:`Checkpointer.fallback`), so the
WAL stays bounded whatever happens here.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Final

import logs

__all__ = ["AUTOCHECKPOINT_PAGES", "RESTART_FRAMES", "Checkpointer"]

log = logs.get_logger("server")

#: SQLite's own default: what the store goes back to without a checkpointer.
AUTOCHECKPOINT_PAGES: Final = 1000
#: WAL frames (4 KiB pages) beyond which the store's thread finishes a
#: checkpoint itself so that the WAL starts over (see :meth:`Checkpointer.catch_up`):
#: 32 MiB, a few seconds of a loaded server's commits.
RESTART_FRAMES: Final = 8192


class Checkpointer:
    """Checkpoints the WAL of the database at ``path`` every ``interval_s``.

    Args:
        path: the store's database file (already open, in WAL mode).
        interval_s: time between two checkpoints. At ~10k commits/s of one
            page each, 0.25 s keeps the WAL near 2,500 pages (10 MB).

    The store's thread calls :meth:`start` once its own connection is
    open (with ``wal_autocheckpoint=0``), :meth:`stop` before it closes
    that connection, and :meth:`fallback` now and then. The checkpointing
    runs on the thread :meth:`start` makes, named ``checkpoint-<file>``.
    """

    def __init__(self, path: Path, interval_s: float = 0.25) -> None:
        self.path = path
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: checkpoints this thread ran
        self.runs = 0
        #: whether the last checkpoint copied every frame of the WAL
        self.complete = False
        #: the frames in the WAL at this thread's last checkpoint (written
        #: by this thread, read and reset by the store's: an int, so the
        #: GIL makes each access whole)
        self.wal_frames = 0

    @property
    def alive(self) -> bool:
        """Whether the checkpointing thread is running."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._run, name=f"checkpoint-{self.path.name}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread and wait (up to ``timeout_s``) for its last checkpoint to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def fallback(self, db: sqlite3.Connection) -> bool:
        """On the store's thread: if this thread is not running, give the
        checkpoints back to SQLite (``wal_autocheckpoint``) on ``db``, the
        store's connection. Returns whether it did."""
        if self.alive or self._stop.is_set():
            return False
        db.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        log.warning("server.checkpointer_gone", db=str(self.path))
        return True

    def catch_up(self, db: sqlite3.Connection) -> bool:
        """On the store's thread, between writes (no transaction open on
        ``db``, the store's connection): if the WAL outgrew
        :data:`RESTART_FRAMES`, one passive checkpoint, so that the next
        write starts the WAL over. Returns whether it ran one.

        Cheap when it runs: the thread copied all but the last interval's
        frames. A failure, or the thread's checkpoint holding the lock
        (SQLite then answers busy), leaves it to the next time the thread
        finds the WAL long.
        """
        if self.wal_frames < RESTART_FRAMES:
            return False
        self.wal_frames = 0
        try:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:
            log.warning("server.checkpoint_failed", db=str(self.path), error=repr(exc))
        return True

    def _run(self) -> None:
        try:
            # Its own connection: a connection belongs to one thread. No
            # schema work here: the store's connection made it.
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
        except sqlite3.Error as exc:
            log.error("server.checkpointer_failed", db=str(self.path), error=repr(exc))
            return
        try:
            db.execute("PRAGMA busy_timeout=1000")
            while not self._stop.wait(self.interval_s):
                self.checkpoint(db)
        finally:
            db.close()

    def checkpoint(self, db: sqlite3.Connection) -> None:
        """One passive checkpoint on ``db`` (this thread's connection).

        A failure (a full disk, a busy file) is logged and left to the next
        round: the pages stay in the WAL, committed and readable.
        """
        try:
            row = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:
            log.warning("server.checkpoint_failed", db=str(self.path), error=repr(exc))
            return
        if row is not None:
            busy, frames, copied = (int(x) for x in row)
            self.wal_frames = frames
            self.complete = not busy and frames == copied
            self.runs += 1
