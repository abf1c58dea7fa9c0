"""Small modal dialogs: a yes/no confirmation and a form of a few values.

Every action that changes something (a signal, an xserver setting) passes through ConfirmScreen,
which says exactly what will happen; ``y`` confirms, ``n`` or Esc cancels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str, detail: str = "", danger: bool = True) -> None:
        super().__init__()
        self.question, self.detail, self.danger = question, detail, danger

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.question, id="dialog-question")
            if self.detail:
                yield Static(self.detail, id="dialog-detail")
            with Horizontal(id="dialog-buttons"):
                yield Button("Yes (y)", id="yes", variant="error" if self.danger else "primary")
                yield Button("No (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()  # Enter on a fresh dialog must not do harm

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


Field = tuple[str, str, str]  # (key, label, initial value)


def rejects(parse: Callable[[dict[str, str]], object]) -> Callable[[dict[str, str]], str | None]:
    """A FormScreen validator from a parser that raises ValueError (e.g. ActionRejected) with a
    user-facing sentence: the form stays open and shows it."""

    def validate(vals: dict[str, str]) -> str | None:
        try:
            parse(vals)
        except ValueError as exc:
            return str(exc)
        return None

    return validate


class FormScreen(ModalScreen[dict[str, str] | None]):
    """A few labelled inputs; ``validate`` returns an error sentence or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, fields: Sequence[Field],
                 validate: Callable[[dict[str, str]], str | None] | None = None,
                 help_text: str = "") -> None:
        super().__init__()
        self.title_text, self.fields, self.validate, self.help_text = title, fields, validate, help_text

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.title_text, id="dialog-question")
            if self.help_text:
                yield Static(self.help_text, id="dialog-detail")
            for key, label, value in self.fields:
                yield Label(label)
                yield Input(value=value, id=f"f-{key}")
            yield Static("", id="dialog-error")
            with Horizontal(id="dialog-buttons"):
                yield Button("OK (enter)", id="ok", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query(Input).first().focus()

    def _values(self) -> dict[str, str]:
        return {k: self.query_one(f"#f-{k}", Input).value.strip() for k, _, _ in self.fields}

    def _submit(self) -> None:
        vals = self._values()
        err = self.validate(vals) if self.validate else None
        if err:
            self.query_one("#dialog-error", Static).update(f"[b red]{err}[/]")
            return
        self.dismiss(vals)

    @on(Input.Submitted)
    def _enter(self, _e: Input.Submitted) -> None:
        self._submit()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self._submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
