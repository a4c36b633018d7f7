"""The process supervisor and the topology file (the cluster arrives with issue 3)."""

__all__: list[str] = []
