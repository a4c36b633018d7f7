"""What waking a thread costs on this machine: on the waker's CPU, and on another.

Run: ``python benchmarks/wakeup_cost.py [--rounds 3000]``

Two threads of one process ping-pong over two eventfds, one waiting in
``poll`` while the other writes, for ``--rounds`` round trips with a pause
between them (so the waiting CPU may go idle, as between requests). Prints
the median round trip with both threads bound to one CPU, with each bound to
a CPU of its own, and unbound. Every message the cluster passes crosses such
wake-ups: zmq's I/O thread wakes the bridge thread, the bridge wakes the I/O
thread, and each process's I/O thread wakes the next one's (see the "CPU
affinity" section of docs/performance.md).
"""

from __future__ import annotations

import argparse
import os
import select
import statistics
import sys
import threading
import time


def round_trips(rounds: int, pause_s: float, cpus: tuple[int, int] | None) -> float:
    """Median round trip in µs; ``cpus`` binds (pinger, ponger), None leaves both unbound."""
    ping, pong = os.eventfd(0), os.eventfd(0)
    saved = os.sched_getaffinity(0)

    def ponger() -> None:
        if cpus is not None:
            os.sched_setaffinity(0, {cpus[1]})
        waiter = select.poll()
        waiter.register(ping, select.POLLIN)
        for _ in range(rounds):
            waiter.poll()
            os.eventfd_read(ping)
            os.eventfd_write(pong, 1)

    thread = threading.Thread(target=ponger)
    try:
        if cpus is not None:
            os.sched_setaffinity(0, {cpus[0]})
        thread.start()
        waiter = select.poll()
        waiter.register(pong, select.POLLIN)
        samples = []
        for _ in range(rounds):
            time.sleep(pause_s)
            start = time.perf_counter_ns()
            os.eventfd_write(ping, 1)
            waiter.poll()
            os.eventfd_read(pong)
            samples.append(time.perf_counter_ns() - start)
        thread.join()
    finally:
        os.sched_setaffinity(0, saved)
        os.close(ping)
        os.close(pong)
    return statistics.median(samples) / 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3000)
    parser.add_argument("--pause-s", type=float, default=0.0005)
    args = parser.parse_args(argv)
    if not hasattr(os, "eventfd") or not hasattr(os, "sched_setaffinity"):
        print("needs Linux (eventfd, sched_setaffinity)", file=sys.stderr)
        return 1
    allowed = sorted(os.sched_getaffinity(0))
    cases: list[tuple[str, tuple[int, int] | None]] = [
        ("one CPU", (allowed[0], allowed[0])),
        ("unbound", None),
    ]
    if len(allowed) >= 2:
        cases.insert(1, ("two CPUs", (allowed[0], allowed[1])))
    for name, cpus in cases:
        median_us = round_trips(args.rounds, args.pause_s, cpus)
        print(f"{name:>9}: round trip p50 {median_us:7.1f} µs ({args.rounds} round trips)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
