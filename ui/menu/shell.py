"""The interactive menu of the seed design, on top of :class:`ClientSession`.

Messages are coloured by who speaks, as in the seed design: the client
(``C``) in green, the cluster (``P``/``S``) in cyan, published updates in
yellow and errors in red. Every input is checked before anything changes.

A published update arrives while the menu waits for input: it is printed on
its own lines, in words (:func:`ui.changes.describe`), and the prompt that was
waiting is printed again under it. At start the menu says how many lists
have edits waiting to be sent; option 14 sends them (and pulls every list).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from actors.client import (
    ClusterUnavailable,
    ClusterUnreachable,
    Forbidden,
    ListChange,
    UnknownList,
)
from crdt import ShoppingListError
from protocol import Role
from ui.changes import describe
from ui.client import (
    ClientOptions,
    open_session,
    parse_quantity,
    render_list,
    resolve_list,
    unknown_message,
    unreachable_message,
)
from ui.menu.web import WebPage

__all__ = ["Shell"]

MENU: Final = """
[bold]Shopping lists[/bold] of {client}
 1. Create list           5. Acquire item
 2. Print list            6. Get list from server
 3. Add item to list      7. Send list to server
 4. Remove item           8. Delete list (local copy)
 9. My lists             10. Share list (invite or key)
11. Join a list (invite) 12. Members of a list
13. Rename list          14. Sync (send waiting edits, get every list)
15. Open the web page     0. Exit
"""


class Shell:
    """A menu loop; ends on ``0``, end of input, or Ctrl-C."""

    def __init__(self, opts: ClientOptions) -> None:
        self.opts = opts
        self.console = opts.console
        #: the prompt waiting for input, printed again under an update
        self._waiting_prompt = ""
        #: this client's web page, started by option 15, stopped with the menu
        self.web = WebPage(opts)

    def run(self) -> int:
        self.session = open_session(self.opts, subscribe=True, on_update=self._updated)
        try:
            self._say_pending()
            while True:
                self.console.print(MENU.format(client=self.opts.client_id))
                choice = self._ask("choice")
                if choice is None or choice == "0":
                    return 0
                action = self._actions().get(choice)
                if action is None:
                    self._error(f"{choice!r} is not on the menu")
                    continue
                try:
                    action()
                except UnknownList as exc:
                    self._error(unknown_message(exc))
                except (ValueError, ShoppingListError) as exc:
                    self._error(str(exc))
                except Forbidden:
                    self._error("forbidden: no such list in the cluster, or no access to it")
                except ClusterUnreachable:
                    self._error(unreachable_message(self.session))
                except ClusterUnavailable as exc:
                    self._error(f"the cluster could not do it: {exc}")
        except (EOFError, KeyboardInterrupt):
            return 0
        finally:
            self.web.close()
            self.session.close()

    def _actions(self) -> dict[str, Callable[[], None]]:
        return {
            "1": self._create,
            "2": self._print,
            "3": self._add,
            "4": self._remove,
            "5": self._acquire,
            "6": self._pull,
            "7": self._push,
            "8": self._delete,
            "9": self._lists,
            "10": self._share,
            "11": self._join,
            "12": self._members,
            "13": self._rename,
            "14": self._sync,
            "15": self._web,
        }

    # ---------------------------------------------------------------- input

    def _ask(self, prompt: str) -> str | None:
        self._waiting_prompt = f"[bold]{prompt}>[/bold] "
        try:
            answer = self.console.input(self._waiting_prompt)
        except EOFError:
            return None
        finally:
            self._waiting_prompt = ""
        return answer.strip()

    def _ask_text(self, prompt: str) -> str:
        text = self._ask(prompt)
        if not text:
            raise ValueError(f"{prompt} cannot be empty")
        return text

    def _ask_qty(self) -> int:
        return parse_quantity(self._ask("quantity [1]") or "1")

    def _ask_list(self) -> str:
        return resolve_list(self.session, self._ask_text("list (id, unique id prefix or name)"))

    # -------------------------------------------------------------- output

    def _client(self, text: str) -> None:
        self.console.print(f"[green]C[/green] {text}")

    def _cluster(self, text: str) -> None:
        self.console.print(f"[cyan]P[/cyan] {text}")

    def _error(self, text: str) -> None:
        self.console.print(f"[red]error:[/red] {text}")

    def _updated(self, change: ListChange) -> None:
        """An update, on its own lines, then the prompt that was waiting (bridge thread)."""
        prompt = self._waiting_prompt
        lines = "\n".join(f"[yellow]update[/yellow] {line}" for line in describe(change))
        self.console.print(f"\n{lines}" if prompt else lines)
        if prompt:
            self.console.print(prompt, end="")

    def _say_pending(self) -> None:
        waiting = len(self.session.store.pending())
        if waiting:
            self._client(f"{waiting} lists have edits waiting to be sent; 14 sends them")

    def _saved(self, pushed: bool) -> None:
        if pushed:
            self._cluster("SAVED by the cluster")
        else:
            self._client("saved offline; it will be sent on the next contact")

    # ------------------------------------------------------------- actions

    def _create(self) -> None:
        state, pushed = self.session.create(self._ask_text("list name"))
        self._client(f"created {state.name!r}: {state.list_id}")
        self._client("to share it, choose 10")
        self._saved(pushed)

    def _print(self) -> None:
        state = self.session.get_local(self._ask_list())
        if state is not None:
            self.console.print(render_list(state))

    def _add(self) -> None:
        list_id = self._ask_list()
        item = self._ask_text("item")
        _, pushed = self.session.add(list_id, item, self._ask_qty())
        self._client(f"added {item}")
        self._saved(pushed)

    def _remove(self) -> None:
        list_id = self._ask_list()
        item = self._ask_text("item")
        _, pushed = self.session.remove(list_id, item)
        self._client(f"removed {item}")
        self._saved(pushed)

    def _acquire(self) -> None:
        list_id = self._ask_list()
        item = self._ask_text("item")
        _, pushed = self.session.acquire(list_id, item, self._ask_qty())
        self._client(f"bought {item}")
        self._saved(pushed)

    def _pull(self) -> None:
        ref = self._ask_text("list id (or the name or id prefix of a list held here)")
        list_id = resolve_list(self.session, ref, pulling=True)
        state = self.session.pull(list_id)
        self._cluster(f"got {state.name or list_id} from the cluster")
        self.console.print(render_list(state))

    def _push(self) -> None:
        saved = self.session.push(self._ask_list())
        self._cluster(f"SAVED on {saved.acks} replicas")

    def _delete(self) -> None:
        list_id = self._ask_list()
        self.session.delete(list_id)
        self._client(f"deleted the local copy of {list_id}")

    def _lists(self) -> None:
        pending = {pid for pid, _ in self.session.store.pending()}
        for state in self.session.lists():
            mark = " [yellow](unsaved edits)[/yellow]" if state.list_id in pending else ""
            self._client(f"{state.list_id}  {state.name}  {len(state)} items{mark}")

    def _share(self) -> None:
        """An invite link to send, or a share with a known key."""
        list_id = self._ask_list()
        read_only = (self._ask("read-only? [y/N]") or "n").lower().startswith("y")
        role: Role = "viewer" if read_only else "editor"
        key = self._ask("their key (empty: make an invite link)")
        if key:
            self.session.share(list_id, key, role)
            self._cluster(f"shared with {key} as {role}")
            return
        link, _ = self.session.invite(list_id, role)
        self._cluster(f"invite ({role}); send it to them, they choose option 11:")
        # Unwrapped, so that it can be copied whole from any terminal.
        self.console.print(str(link), markup=False, highlight=False, soft_wrap=True)

    def _join(self) -> None:
        state = self.session.join(self._ask_text("invite link"))
        self._cluster(f"joined {state.name or state.list_id}")
        self.console.print(render_list(state))

    def _members(self) -> None:
        reply = self.session.members(self._ask_list())
        self._client(f"owner {reply.owner}" + (" (you)" if reply.grant == "owner" else ""))
        for key, role in reply.members:
            self._client(f"{role:<7} {key}")
        if reply.grant == "owner":
            self._client(f"{len(reply.invites)} open invites; your key: {self.session.whoami()}")

    def _rename(self) -> None:
        list_id = self._ask_list()
        state, pushed = self.session.rename(list_id, self._ask_text("new name"))
        self._client(f"renamed to {state.name!r}")
        self._saved(pushed)

    def _sync(self) -> None:
        report = self.session.sync()
        self._cluster(
            f"sent {len(report.pushed)}, got {len(report.pulled)}, failed {len(report.failed)}"
        )
        self._say_pending()

    def _web(self) -> None:
        try:
            url = self.web.open()
        except RuntimeError as exc:
            self._error(str(exc))
            return
        # On a line of its own, never wrapped: it is copied into a browser.
        self._client("open this address in a browser (the page stops with the menu):")
        self.console.print(f"open {url}", soft_wrap=True, markup=False, highlight=False)
