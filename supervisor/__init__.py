"""Running a topology: the process supervisor and what surrounds it.

``topology`` (the validated topology file), ``supervisor`` (starts, restarts
and stops a host's processes, feeds the proxy's hello queue), ``probe`` and
``endpoints`` (finding a running proxy), ``console``, ``shell`` and ``ops``
(the commands of ``run.py``). Import from the modules.
"""

__all__: list[str] = []
