"""Running a topology: the process supervisor and what surrounds it.

``topology`` (the validated topology file), ``supervisor`` (starts, restarts
and stops a host's processes, feeds the proxy's hello queue), ``child``
(the main function of each cluster process: the one place that builds a
process from a topology), ``probe`` and ``endpoints`` (finding a running
proxy). Import from the modules: a spawned child then imports only what it
runs.
"""

__all__: list[str] = []
