"""A person's client as a page in their browser, served on 127.0.0.1.

:func:`run_web` is ``run.py client --id NAME web``: the client's session
(the one the command line uses) behind a small Starlette app, with live
updates by server-sent events; :mod:`ui.web.guard` says who may talk to it.
"""

from ui.web.server import run_web

__all__ = ["run_web"]
