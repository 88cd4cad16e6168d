"""The crew terminal (``flip vessel terminal``): a Textual app that works over a serial console.

Flows (each tested headlessly with Textual's pilot):

* **Start page** — neutral: language buttons (and ``l``, a list of languages each in its own
  script), the four urgent categories as buttons, ``r`` report a problem, ``c`` check a
  receipt. Digits typed here open the receipt check with them, never a report.
* **Report** — categories grouped as FIELD-FACTS §8 with plain labels → free text (the text box
  has focus; Enter is a new line; a routine report needs words) → a confirmation screen whose
  focused button is "Change it" (sending — for urgent reports "Yes — send this urgent report
  now" — is a second, deliberate choice) → sealed and queued by
  :meth:`vessel_agent.device.Device.submit` → receipt code screen. No single key sends anything.
* **Check a receipt** — the code (and only the code) shows that one message's state and the
  shore's status notes, in the crew member's language. There is no list of messages anywhere.
* **Withdraw / ask for news** — after a successful lookup (the code is the proof), that one
  message can be withdrawn (a confirmation first: it cannot be undone) or the shore asked for
  news; each queues a sealed crew message (:class:`protocol.messages.Withdraw` /
  :class:`~protocol.messages.StatusRequest`) through :class:`~vessel_agent.device.Device`.
* **Idle** — after ``idle_timeout_s`` without a key or click the app returns to the start page
  in the default language and forgets what was typed, so the next person sees nothing.

Every screen shows its keys on the bottom line, in the crew member's language. All words come
from :mod:`vessel_agent.i18n` catalogs. Plaintext lives only in the widgets until submit, which
seals it; the report screens are dropped right after.

A terminal emulator does not shape Burmese, Khmer or Thai (docs/vessel-agent.md, "Crew
terminal"): those crew are better served by the browser crew app.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any, ClassVar

from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Input, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from protocol.category import is_urgent
from protocol.crew import ZawgyiMode
from protocol.errors import LocalProtocolError
from protocol.lang import lang_from_tag
from vessel_agent.device import Device
from vessel_agent.errors import LookupLocked, OutboxError, OutboxFull, ReceiptError
from vessel_agent.i18n import GROUPS, LANGS, URGENT, Catalog, load
from vessel_agent.receipt import Throttle

CSS = """
Screen { padding: 0 1; }
#title { text-style: bold; padding: 0 0 1 0; }
.urgent { color: $error; text-style: bold; }
#langs { height: 1; }
#langs Button { width: auto; min-width: 4; margin: 0 1 0 0; }
#urgent Button { width: 100%; margin: 0 0 1 0; }
#urgent { height: auto; }
#start-actions Button { margin: 0 1 0 0; }
#code { text-style: bold; padding: 1 2; }
#text { height: 6; }
#categories, #languages { height: 1fr; }
#words { height: auto; max-height: 6; padding: 0 0 1 0; }
#keys { dock: bottom; width: 100%; background: $boost; color: $text-muted; }
Horizontal { height: auto; }
"""

#: Digits typed on the start page open the receipt check with them (a code is 10 digits).
DIGITS = "0123456789"


class _Base(Screen[None]):
    """A crew screen: its keys on the bottom line (catalog key ``KEYS``), in the crew's
    language."""

    KEYS = "ui.keys_list"

    @property
    def terminal(self) -> CrewTerminal:
        app = self.app
        assert isinstance(app, CrewTerminal)
        return app

    @property
    def t(self) -> Catalog:
        return self.terminal.t

    def keys(self) -> Static:
        return Static(self.t(self.KEYS), id="keys")


class StartScreen(_Base):
    """The neutral start page. No key here sends anything: letters open screens, digits open
    the receipt check (crew typing a receipt code here once opened an urgent report)."""

    KEYS = "ui.keys_start"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "report", show=False),
        Binding("c", "check", show=False),
        Binding("l", "language", show=False),
        *(Binding(d, f"digit('{d}')", show=False) for d in DIGITS),
    ]

    def compose(self) -> ComposeResult:
        t = self.t
        yield Static(t("ui.title"), id="title")
        yield Static(t("ui.welcome"), id="welcome")
        label = t("ui.choose_language")
        english = Catalog("en")("ui.choose_language")
        yield Static(f"l · {label}" + ("" if label == english else f" · {english}"), id="lang-key")
        with Horizontal(id="langs"):
            for lang in LANGS:
                yield Button(load(lang)["language_name"], id=f"lang-{lang}", compact=True)
        yield Static(t("ui.urgent_heading"), classes="urgent")
        with Vertical(id="urgent"):
            for i, code in enumerate(URGENT):
                yield Button(t.category(code), id=f"urgent-{i}", variant="error", compact=True)
        with Horizontal(id="start-actions"):
            yield Button(f"r · {t('ui.report')}", id="report", variant="primary")
            yield Button(f"c · {t('ui.check')}", id="check")
        yield Static(t("ui.idle_note"), id="idle-note")
        yield self.keys()

    def on_mount(self) -> None:
        self.query_one("#report", Button).focus()

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        bid = event.button.id or ""
        if bid.startswith("lang-"):
            await self.terminal.set_language(bid.removeprefix("lang-"))
        elif bid.startswith("urgent-"):
            self.action_urgent(int(bid.removeprefix("urgent-")))
        elif bid == "report":
            self.action_report()
        elif bid == "check":
            self.action_check()

    def action_urgent(self, index: int) -> None:
        self.app.push_screen(DetailsScreen(URGENT[index]))

    def action_report(self) -> None:
        self.app.push_screen(CategoryScreen())

    def action_check(self) -> None:
        self.app.push_screen(LookupScreen())

    def action_digit(self, digit: str) -> None:
        self.app.push_screen(LookupScreen(prefill=digit))

    def action_language(self) -> None:
        self.app.push_screen(LanguageScreen())


class _CrewScreen(_Base):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "back", show=False)]

    def action_back(self) -> None:
        self.app.pop_screen()


class LanguageScreen(_CrewScreen):
    """Every language named in its own script; choosing one returns to the start page in it."""

    KEYS = "ui.keys_list"

    def compose(self) -> ComposeResult:
        yield Static(self.t("ui.choose_language"), id="title")
        names = [Option(load(lang)["language_name"], id=f"lang-{lang}") for lang in LANGS]
        yield OptionList(*names, id="languages")
        yield self.keys()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        lang = (event.option.id or "").removeprefix("lang-")
        self.app.pop_screen()  # awaiting it here, in this screen's own handler, would deadlock
        self.app.call_later(self.terminal.set_language, lang)


class CategoryScreen(_CrewScreen):
    """Categories grouped with plain labels; urgent ones first."""

    KEYS = "ui.keys_list"

    def compose(self) -> ComposeResult:
        t = self.t
        yield Static(t("ui.choose_category"), id="title")
        options: list[Option | None] = [Option(t.group("F"), disabled=True)]
        options += [Option(f"  {t.category(c)}", id=f"cat-{c:02X}") for c in URGENT]
        for key, codes in GROUPS:
            options.append(None)
            if key != "0":
                options.append(Option(t.group(key), disabled=True))
            options += [Option(f"  {t.category(c)}", id=f"cat-{c:02X}") for c in codes]
        yield OptionList(*options, id="categories")
        yield Button(t("ui.back"), id="back")
        yield self.keys()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        oid = event.option.id or ""
        if oid.startswith("cat-"):
            self.app.push_screen(DetailsScreen(int(oid.removeprefix("cat-"), 16)))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "back":
            self.action_back()


class DetailsScreen(_CrewScreen):
    """Free text for one category (the text box has focus; Enter is a new line), then Ctrl+S
    or the Send button opens the confirmation — nothing is sent from here. A routine report
    needs words; an urgent one may go with none (its category is the message), but only
    through the confirmation, which says so."""

    KEYS = "ui.keys_details"
    BINDINGS: ClassVar[list[BindingType]] = [
        *_CrewScreen.BINDINGS,
        Binding("ctrl+s", "send", show=False),
    ]

    def __init__(self, category: int) -> None:
        super().__init__()
        self.category = category

    def compose(self) -> ComposeResult:
        t = self.t
        urgent = is_urgent(self.category)
        yield Static(t.category(self.category), id="title", classes="urgent" if urgent else "")
        if urgent:
            yield Static(t("ui.sending_urgent"), classes="urgent")
        yield Static(t("ui.details" if urgent else "ui.details_required"))
        yield TextArea(id="text", soft_wrap=True, show_line_numbers=False)
        yield Static("", id="error")
        with Horizontal():
            yield Button(t("ui.send"), id="send", variant="error" if urgent else "primary")
            yield Button(t("ui.back"), id="back")
        yield self.keys()

    def on_mount(self) -> None:
        self.query_one("#text", TextArea).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "send":
            self.action_send()
        elif event.button.id == "back":
            self.action_back()

    def action_send(self) -> None:
        area = self.query_one("#text", TextArea)
        if not area.text.strip() and not is_urgent(self.category):
            self.query_one("#error", Static).update(self.t("ui.empty"))
            area.focus()
            return
        self.query_one("#error", Static).update("")
        self.app.push_screen(ConfirmScreen(self.category, area.text))


class ConfirmScreen(_CrewScreen):
    """The deliberate second step: the report as it will go, and "Change it" focused, so a
    stray Enter returns to the words (kept) and sends nothing."""

    KEYS = "ui.keys_confirm"

    def __init__(self, category: int, text: str) -> None:
        super().__init__()
        self.category = category
        self.text = text

    def compose(self) -> ComposeResult:
        t = self.t  # the review strings are the crew app's (one source of words)
        urgent = is_urgent(self.category)
        yield Static(t("app.review_title"), id="title")
        yield Static(t.category(self.category), classes="urgent" if urgent else "")
        if urgent:
            yield Static(t("app.urgent_confirm"), classes="urgent")
        yield Static(t("app.your_words"))
        with VerticalScroll(id="words"):
            yield Static(self.text.strip() or t("app.no_words"))
        yield Static(t("app.review_private"))
        yield Static("", id="error")
        with Horizontal():
            yield Button(t("app.change"), id="no", variant="primary")
            yes = t("app.send_urgent" if urgent else "ui.confirm_yes")
            yield Button(yes, id="yes", variant="error" if urgent else "success")
        yield self.keys()

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "yes":
            error = self.terminal.submit(self.category, self.text)
            if error is not None:
                self.query_one("#error", Static).update(self.t(error))
        elif event.button.id == "no":
            self.action_back()


class ReceiptScreen(_CrewScreen):
    """The receipt code, once. Done (or idle) returns to the start page."""

    KEYS = "ui.keys_done"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,enter", "done", show=False)]

    def __init__(self, code: str, urgent: bool, zawgyi: ZawgyiMode | None = None) -> None:
        super().__init__()
        self.code = code
        self.urgent = urgent
        self.zawgyi = zawgyi

    def compose(self) -> ComposeResult:
        t = self.t
        yield Static(t("ui.receipt_title"), id="title")
        if self.urgent:
            yield Static(t("ui.sending_urgent"), classes="urgent")
        yield Static(t("ui.receipt_code"))
        yield Static(self.code, id="code")
        yield Static(t("ui.receipt_help"))
        if self.zawgyi is ZawgyiMode.CONVERTED:
            yield Static(t("ui.zawgyi_converted"), id="zawgyi")
        yield Button(t("ui.done"), id="done", variant="primary")
        yield self.keys()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_done()

    def action_done(self) -> None:
        self.terminal.reset()


class LookupScreen(_CrewScreen):
    """Receipt code → that message's state and notes; nothing else is ever listed.

    After a successful lookup (the code is the proof) two follow-ups are offered for that one
    message: withdraw it (after a confirmation) or ask the shore for news.
    """

    KEYS = "ui.keys_lookup"

    def __init__(self, prefill: str = "") -> None:
        super().__init__()
        self.prefill = prefill
        self.found: str | None = None  # the code just looked up, while its actions are shown

    def compose(self) -> ComposeResult:
        t = self.t
        yield Static(t("ui.check"), id="title")
        yield Static(t("ui.lookup_prompt"))
        yield Input(id="code", max_length=20)
        with Horizontal():
            yield Button(t("ui.lookup_button"), id="lookup", variant="primary")
            yield Button(t("ui.back"), id="back")
        with VerticalScroll():
            yield Static("", id="result")
            with Horizontal(id="actions"):
                yield Button(t("ui.ask_news"), id="ask")
                yield Button(t("ui.withdraw"), id="withdraw", variant="warning")
        yield self.keys()

    def on_mount(self) -> None:
        self.query_one("#actions").display = False
        box = self.query_one("#code", Input)
        box.value = self.prefill
        box.cursor_position = len(self.prefill)
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.show(event.value)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        bid = event.button.id
        if bid == "lookup":
            self.show(self.query_one("#code", Input).value)
        elif bid == "back":
            self.action_back()
        elif bid == "ask" and self.found is not None:
            self.terminal.follow_up(self.found, withdraw=False)
        elif bid == "withdraw" and self.found is not None:
            self.app.push_screen(WithdrawScreen(self.found))

    def show(self, code: str) -> None:
        text, self.found = self.terminal.lookup(code)
        self.query_one("#result", Static).update(text)
        self.query_one("#actions").display = self.found is not None
        self.query_one("#code", Input).value = ""


class WithdrawScreen(_CrewScreen):
    """Confirm a withdrawal: it cannot be undone. Back or escape withdraws nothing."""

    KEYS = "ui.keys_confirm"

    def __init__(self, code: str) -> None:
        super().__init__()
        self.code = code

    def compose(self) -> ComposeResult:
        t = self.t
        yield Static(t("ui.withdraw_title"), id="title")
        yield Static(t("ui.withdraw_warning"), classes="urgent")
        yield Static("", id="error")
        with Horizontal():
            yield Button(t("ui.withdraw_cancel"), id="cancel", variant="primary")
            yield Button(t("ui.withdraw_confirm"), id="confirm", variant="error")
        yield self.keys()

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "confirm":
            error = self.terminal.follow_up(self.code, withdraw=True)
            if error is not None:
                self.query_one("#error", Static).update(self.t(error))
        elif event.button.id == "cancel":
            self.action_back()


class QueuedScreen(_CrewScreen):
    """A withdrawal or news request is saved; it goes when the link allows."""

    KEYS = "ui.keys_done"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,enter", "done", show=False)]

    def __init__(self, withdraw: bool) -> None:
        super().__init__()
        self.withdraw = withdraw

    def compose(self) -> ComposeResult:
        t = self.t
        yield Static(t("ui.withdraw_sent" if self.withdraw else "ui.ask_sent"), id="title")
        yield Static(t("ui.followup_help"))
        yield Button(t("ui.done"), id="done", variant="primary")
        yield self.keys()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_done()

    def action_done(self) -> None:
        self.terminal.reset()


class CrewTerminal(App[None]):
    """The crew terminal application (inject ``clock`` and ``rng`` in tests)."""

    CSS = CSS
    TITLE = "flip-sync"

    def __init__(
        self,
        device: Device,
        *,
        lang: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[int], bytes] = secrets.token_bytes,
        idle_timeout_s: float | None = None,
    ) -> None:
        super().__init__()
        self.device = device
        self.clock = clock
        self.rng = rng
        default = lang or device.config.default_lang
        self.default_lang = default if default in LANGS else "en"
        self.t = Catalog(self.default_lang)
        self.idle_timeout_s = (
            idle_timeout_s if idle_timeout_s is not None else device.config.idle_timeout_s
        )
        self.last_activity = clock()
        self.throttle = Throttle()

    def on_mount(self) -> None:
        self.push_screen(StartScreen())
        self.set_interval(1.0, self.idle_check)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key | events.MouseDown):
            self.last_activity = self.clock()
        await super().on_event(event)

    # --- idle ----------------------------------------------------------------------------------

    def idle_check(self) -> bool:
        """Back to a neutral start page after the idle timeout; True if it reset."""
        if self.clock() - self.last_activity < self.idle_timeout_s:
            return False
        if len(self.screen_stack) <= 2 and self.t.lang == self.default_lang:
            self.last_activity = self.clock()
            return False
        self.reset()
        return True

    def reset(self) -> None:
        """Drop every screen above the start page and forget the chosen language."""
        self.last_activity = self.clock()
        while len(self.screen_stack) > 2:
            self.pop_screen()
        if self.t.lang != self.default_lang:
            self.t = Catalog(self.default_lang)
            self.call_later(self.screen.recompose)

    async def set_language(self, lang: str) -> None:
        self.t = Catalog(lang)
        await self.screen.recompose()

    # --- actions -------------------------------------------------------------------------------

    def submit(self, category: int, text: str) -> str | None:
        """Seal and queue; on success show the receipt. Returns a catalog key on failure —
        ``ui.empty`` for a routine report without words (an urgent one may go without)."""
        if not text.strip() and not is_urgent(category):
            return "ui.empty"
        try:
            done = self.device.submit(
                category=category,
                lang=lang_from_tag(self.t.lang),
                text=text.strip(),
                rng=self.rng,
            )
        except OutboxFull:
            return "ui.full"
        except (OutboxError, LocalProtocolError):
            return "ui.failed"
        while len(self.screen_stack) > 2:
            self.pop_screen()
        self.push_screen(ReceiptScreen(done.receipt, done.urgent, done.zawgyi))
        return None

    def follow_up(self, code: str, *, withdraw: bool) -> str | None:
        """Queue a sealed withdrawal or status request for the message ``code`` names and show
        that it is saved. Returns a catalog key on failure."""
        try:
            if withdraw:
                self.device.withdraw(code)
            else:
                self.device.request_status(code)
        except ReceiptError:
            return "ui.not_found"
        except OutboxFull:
            return "ui.full"
        except (OutboxError, LocalProtocolError):
            return "ui.failed"
        while len(self.screen_stack) > 2:
            self.pop_screen()
        self.push_screen(QueuedScreen(withdraw))
        return None

    def lookup_text(self, code: str) -> str:
        """What the lookup screen shows for ``code``, in the current language."""
        return self.lookup(code)[0]

    def lookup(self, code: str) -> tuple[str, str | None]:
        """What the lookup screen shows for ``code``, and the code if it names a message here
        (the proof that lets the holder withdraw it or ask for news)."""
        t, now = self.t, self.clock()
        try:
            self.throttle.check(now)
            view = self.device.lookup(code)
        except LookupLocked:
            return t("ui.locked"), None
        except ReceiptError:
            self.throttle.record(False, now)
            return t("ui.bad_code"), None
        self.throttle.record(view is not None, now)
        if view is None:
            return t("ui.not_found"), None
        lines = [f"{t('ui.state_label')} {t.delivery(view.state)}"]
        if view.statuses:
            lines.append(f"{t('ui.state_label')} {t.case_state(view.statuses[-1].status)}")
            notes = [t.note(n.note) for n in view.statuses if n.note]
            if notes:
                lines += ["", t("ui.notes_label"), *(f"• {n}" for n in notes)]
        lines += self._from_shore(code, now)
        return "\n".join(lines), code

    def _from_shore(self, code: str, now: float) -> list[str]:
        """The shore's messages to this receipt, opened in memory with the key the code re-makes
        (docs/vessel-agent.md *Messages from shore*); answering is in the app or `flip vessel
        reply`. A plain terminal shows Burmese, Khmer and Thai badly: the app shows them right."""
        t = self.t
        try:
            notes = self.device.conversation(code, now=now)
        except ReceiptError:  # LookupLocked included: the look-up above already answered
            return []
        if not notes:
            return []
        out = ["", t("app.messages_new", n=len(notes))]
        for n in notes:
            out.append(f"• {n.text if n.text is not None else t('app.sealed_elsewhere')}")
        return out


def run(device: Device, **kwargs: Any) -> None:
    CrewTerminal(device, **kwargs).run()
