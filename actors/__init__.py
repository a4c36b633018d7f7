"""Inside each process: pykka actors, hosted by the ZeroMQ bridge that owns its sockets.

One sub-package per role, each with a public face:

- :mod:`actors.kernel`: what every process runs on: the bridge (sockets and
  poll loop), the hosted-actor runtime, the outbox, the actor base class,
  in-process supervision, message ids, fault injection, cluster settings.
- :mod:`actors.proxy`: the proxy actor and its logic: coordinator, quorum,
  membership and anti-entropy.
- :mod:`actors.server`: the storage server actor: its store, handoff, digests.
- :mod:`actors.client`: the client library: its session, actor and local store.

Roles depend on the kernel and on the pure packages (``crdt``, ``ring``,
``protocol``, ``logs``), never on each other, on ``supervisor`` or on ``ui``.
This face imports nothing, so a process imports only the role it runs.
"""

__all__: list[str] = []
