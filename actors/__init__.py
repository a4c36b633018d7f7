"""Inside each process: pykka actors, hosted by the ZeroMQ bridge that owns its sockets.

``bridge`` (sockets, poll loop), ``runtime`` (actors hosted by the bridge
thread) and ``base`` (the shell every actor shares) carry messages;
``proxy`` (with ``coordinator``, ``membership``, ``antientropy``),
``server`` (with ``storage``, ``handoff``, ``digests``) and ``client``
(with ``client_store``) are the actors; ``process`` is each process's
entry point. Import from the modules: a spawned process then imports only
what it runs.
"""

__all__: list[str] = []
