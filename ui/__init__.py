"""What a person touches: the command line (:mod:`ui.cli`), the menu (:mod:`ui.menu`)
and the web page (:mod:`ui.web`).

Every interface is built on the client library's face (:mod:`actors.client`)
through :mod:`ui.client`; nothing outside ``ui`` imports from here but
``run.py``.
"""

__all__: list[str] = []
