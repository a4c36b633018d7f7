"""pykka actors and ZeroMQ bridges of each process (the cluster arrives with issue 3)."""

__all__: list[str] = []
