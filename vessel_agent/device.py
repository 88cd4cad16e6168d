"""One vessel device: keys and protocol session rebuilt from the agent dir and the outbox.

Used by every process that touches the outbox (agent, ``flip vessel submit``, crew terminal),
so all of them seal to the *current* shore key (a rotation received by the agent is stored in
the outbox) and take seqs from the same committed counter.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from protocol import conversation, keys, messages
from protocol.errors import LocalProtocolError, ProtocolError
from protocol.lang import Lang
from protocol.messages import (
    Config,
    CrewContent,
    Grievance,
    KeyRotation,
    StatusRequest,
    VoiceNote,
    Withdraw,
    ZawgyiMode,
)
from protocol.vessel import Outgoing, VesselSession
from vessel_agent import inbox, lost, receipt, replykey, zawgyi
from vessel_agent.config import (
    SHORE_SEAL_PUB,
    SHORE_SIGN_PUB,
    SIGN_KEY,
    AgentConfig,
    AgentDir,
)
from vessel_agent.errors import ConfigError, ReceiptError
from vessel_agent.logs import Log
from vessel_agent.outbox import Kind, ReceiptView
from vessel_agent.salvage import open_outbox

if TYPE_CHECKING:
    from vessel_agent.voice import Encoded

Rng = Callable[[int], bytes]


@dataclass(frozen=True, slots=True, kw_only=True)
class Submitted:
    """The result of one submit: what the crew member is told."""

    seq: int
    receipt: str
    fragments: int
    urgent: bool
    #: set when the text was typed in Zawgyi (converted) or may have been (unsure):
    #: staff ashore see the words as typed and the converted reading (vessel_agent.zawgyi)
    zawgyi: ZawgyiMode | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ShoreNote:
    """A message from shore as its receipt holder sees it (``text`` None: still sealed)."""

    msg_id: int
    time: float
    sealed: bytes
    text: str | None = None
    lang: Lang | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Queued:
    """A withdrawal or status request queued for the grievance ``ref_seq``."""

    seq: int
    ref_seq: int


class Device:
    """Config, outbox and protocol session of the vessel in one agent directory."""

    def __init__(
        self, path: str, *, outbox_only: bool = False, log: Callable[..., None] | None = None
    ) -> None:
        self.dir = AgentDir(path)
        self.config: AgentConfig = self.dir.load()
        # A damaged outbox is salvaged here, whichever process opens it first (salvage/);
        # ``recovery`` is that report when this process did it.
        self.outbox, self.recovery = open_outbox(
            self.dir.db_path, max_queue_bytes=self.config.max_queue_bytes, log=log or Log()
        )
        try:
            self.session = self._session()
            inbox.ensure(self.outbox)
        except BaseException:
            self.outbox.close()
            raise

    def close(self) -> None:
        self.outbox.close()

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self, name: str) -> bytes:
        try:
            return self.dir.file(name).read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read {self.dir.file(name)}: {exc.strerror}") from exc

    def _session(self) -> VesselSession:
        try:
            sign_key = keys.load_signing_key(self._read(SIGN_KEY))
            shore_sign = [keys.load_verify_key(self._read(SHORE_SIGN_PUB))]
            shore_seal = keys.load_seal_public(self._read(SHORE_SEAL_PUB))
        except LocalProtocolError as exc:
            raise ConfigError(f"{self.dir.path}: {exc}") from exc
        ob = self.outbox
        rotated = ob.meta("shore_sign_keys")
        if isinstance(rotated, bytes) and rotated:
            shore_sign = [
                keys.verify_key_from_raw(rotated[i : i + 32]) for i in range(0, len(rotated), 32)
            ]
        seal_raw = ob.meta("shore_seal_pub")
        if isinstance(seal_raw, bytes):
            shore_seal = keys.seal_public_from_raw(seal_raw)
        session = VesselSession(
            sign_key=sign_key,
            shore_sign_pub=shore_sign,
            shore_seal_pub=shore_seal,
            config_version=ob.int_meta("config_version", -1),
            key_epoch=ob.int_meta("key_epoch", -1),
        )
        session.restore(ob.seq_state())
        return session

    # --- settings that the shore may override ---------------------------------------------

    @property
    def airtime_bytes_per_day(self) -> int:
        value = self.outbox.meta("airtime_bytes_per_day")
        return value if isinstance(value, int) else self.config.airtime_bytes_per_day

    @property
    def report_interval_s(self) -> int:
        value = self.outbox.meta("report_interval_s")
        return value if isinstance(value, int) else self.config.report_interval_s

    def apply_config(self, config: Config) -> None:
        """Persist a shore Config (the session already checked its version is newer)."""
        self.outbox.set_meta(
            {
                "config_version": config.version,
                "airtime_bytes_per_day": config.airtime_bytes_per_day,
                "report_interval_s": config.report_interval_s,
            }
        )

    def apply_rotation(self, rotation: KeyRotation) -> None:
        """Persist new shore keys (the session already verified and switched to them)."""
        self.outbox.set_meta(
            {
                "key_epoch": rotation.epoch,
                "shore_sign_keys": b"".join(
                    keys.raw_public(k) for k in self.session.shore_sign_keys
                ),
                "shore_seal_pub": rotation.seal_pub,
            }
        )

    # --- crew ------------------------------------------------------------------------------

    def submit(
        self,
        *,
        category: int,
        lang: Lang,
        text: str = "",
        voice: Encoded | None = None,
        now: float | None = None,
        rng: Rng = secrets.token_bytes,
        reply_pub: bytes | None = None,
        code: str | None = None,
        reply_salt: bytes | None = None,
    ) -> Submitted:
        """Seal a grievance and persist it with a fresh receipt code; one transaction.

        The plaintext lives only in this call's frames: it is sealed by the protocol session
        before the outbox sees it. Burmese typed in Zawgyi is converted to Unicode here — the
        one place every entry path shares — with the words as typed sealed beside it
        (:func:`vessel_agent.zawgyi.read`). ``voice``: a recording encoded in memory
        (:func:`vessel_agent.voice.encode`) — the grievance is then that voice note, sealed the
        same way, instead of text.

        Raises:
            LocalProtocolError: category or text out of range, both text and voice given, a
                reply key not 32 bytes, a reply salt not 16 bytes, or a reply key that does not
                derive from ``code`` and ``reply_salt``.
            ReceiptError: ``code`` is not a receipt code.
            OutboxFull, OutboxError: not stored (the crew member must be told).

        The reply key is derived from the receipt code, from the receipt's own scrypt run
        (:mod:`vessel_agent.replykey`), and only its salt is kept, so whoever holds the code reads
        the shore's answers, wherever they type it. ``code`` and ``reply_salt``: a code reserved
        earlier (:func:`vessel_agent.receipt.new_code`) and the salt with which the crew
        member's own phone derived the key itself (the crew app) — ``reply_pub``, when given
        too, must be that key's public half. ``reply_pub`` alone: a key the crew member's device
        made at random, which only that device can use. Either way the public key travels inside
        the sealed grievance; the shore seals questions to it.
        """
        moment = int(time.time() if now is None else now)
        reading = zawgyi.read(text)
        content: Grievance | VoiceNote = Grievance(
            category=category, lang=lang, text=reading.text, zawgyi=reading.note
        )
        if voice is not None:
            if text:
                raise LocalProtocolError("a grievance is written or spoken, not both")
            content = voice.note(category=category, lang=lang)
        code = receipt.new_code(rng) if code is None else receipt.normalize(code)
        # one scrypt run: the receipt hash and the material of a receipt-derived reply key
        mat = replykey.material(code, self.outbox.salt(rng))
        digest = mat[: receipt.HASH_LEN]
        if reply_pub is not None and len(reply_pub) != messages.REPLY_KEY_LEN:
            raise LocalProtocolError(f"a reply key has {messages.REPLY_KEY_LEN} bytes")
        salt: bytes | None
        if reply_salt is not None:
            salt, pub = replykey.given(mat, reply_salt)
            if reply_pub is not None and reply_pub != pub:
                raise LocalProtocolError("the reply key does not derive from the receipt code")
        elif reply_pub is None:
            salt, pub = replykey.new(mat, rng)
        else:
            salt, pub = None, reply_pub
        content = dataclasses.replace(content, reply_pub=pub)
        db = self.outbox.db

        def build(s: VesselSession) -> list[Outgoing]:
            items = s.queue_crew(content, moment)
            inbox.remember_key(db, items[0].seq, salt)
            return items

        items = self.outbox.queue(self.session, build, Kind.CREW, receipt_hash=digest)
        first = items[0]
        return Submitted(
            seq=first.seq,
            receipt=code,
            fragments=len(items),
            urgent=first.priority == 0,
            zawgyi=reading.note.mode if reading.note else None,
        )

    def holder(self, code: str, *, now: float | None = None) -> ReceiptView:
        """The grievance a receipt code names, for its holder; wrong codes are throttled across
        every process sharing this outbox (5 in a row pause look-ups for a minute).

        Raises:
            LookupLocked: too many wrong codes lately (nothing was looked up).
            ReceiptError: malformed, or no message here with this code.
        """
        moment = time.time() if now is None else now
        inbox.check_guess(self.outbox, moment)
        view = self.lookup(code)
        inbox.record_guess(self.outbox, view is not None, moment)
        if view is None:
            raise ReceiptError("no message with this receipt code on this device")
        return view

    def conversation(self, code: str, *, now: float | None = None) -> list[ShoreNote]:
        """The shore's messages to the holder of ``code``, opened with the reply key derived
        from it (in memory only). With a key held by the crew member's device, the texts stay
        sealed (``sealed`` set, ``text`` None): that device opens them.

        Raises:
            LookupLocked, ReceiptError: as :meth:`holder`.
        """
        view = self.holder(code, now=now)
        record = inbox.key_record(self.outbox, view.seq)
        stored = inbox.sealed_for(self.outbox, view.seq)
        if record is None or not stored:
            return []
        key = None
        device_salt = self.outbox.meta("receipt_salt")
        if record.salt is not None and record.n is not None and isinstance(device_salt, bytes):
            key = replykey.from_material(
                replykey.material(code, device_salt, record.n), record.salt
            )
        notes = []
        for m in stored:
            note = ShoreNote(msg_id=m.msg_id, time=m.received, sealed=m.sealed)
            if key is not None:
                try:
                    opened = conversation.open_text(
                        m.sealed, key, to_kid=self.session.kid, ref_seq=view.seq, msg_id=m.msg_id
                    )
                except ProtocolError:
                    pass  # not for this key: listed, never shown as text
                else:
                    note = dataclasses.replace(note, text=opened.text, lang=opened.lang)
            notes.append(note)
        return notes

    def reply(self, code: str, text: str, lang: Lang, *, now: float | None = None) -> Queued:
        """Queue the holder's answer as a sealed :class:`~protocol.messages.Reply`.

        Raises:
            LookupLocked, ReceiptError: as :meth:`holder`.
            LocalProtocolError: empty or too long.
            OutboxFull, OutboxError: not stored.
        """
        if not text.strip():
            raise LocalProtocolError("an answer needs words")
        view = self.holder(code, now=now)
        moment = int(time.time() if now is None else now)
        content = messages.Reply(ref_seq=view.seq, lang=lang, text=text)
        items = self.outbox.queue(self.session, lambda s: s.queue_crew(content, moment), Kind.CREW)
        return Queued(seq=items[0].seq, ref_seq=view.seq)

    def take_shore_part(self, part: messages.ShoreMessage, now: float) -> int | None:
        """Store one part of a sealed shore message; when it completes the message, queue a
        :class:`~protocol.messages.Delivered` report and return the message id.

        Raises:
            Malformed: parts that disagree (dropped).
        """
        whole = inbox.store_part(self.outbox, part, now)
        if whole is None:
            return None
        self.outbox.queue(
            self.session, lambda s: [s.queue_delivered([whole.msg_id], int(now))], Kind.HEARTBEAT
        )
        return whole.msg_id

    def withdraw(self, code: str, *, now: float | None = None) -> Queued:
        """Queue a sealed :class:`Withdraw` of the grievance this receipt code names.

        Holding the code is the proof (it is all that links a crew member to a message).

        Raises:
            ReceiptError: the code is malformed or names no message here.
            OutboxFull, OutboxError: not stored.
        """
        return self._follow_up(code, Withdraw, now)

    def request_status(self, code: str, *, now: float | None = None) -> Queued:
        """Queue a sealed :class:`StatusRequest` for the grievance this receipt code names.

        Raises:
            ReceiptError: the code is malformed or names no message here.
            OutboxFull, OutboxError: not stored.
        """
        return self._follow_up(code, StatusRequest, now)

    def _follow_up(self, code: str, make: Callable[..., CrewContent], now: float | None) -> Queued:
        view = self.lookup(code)
        if view is None:
            raise ReceiptError("no message with this receipt code on this device")
        moment = int(time.time() if now is None else now)
        content = make(ref_seq=view.seq)
        items = self.outbox.queue(self.session, lambda s: s.queue_crew(content, moment), Kind.CREW)
        return Queued(seq=items[0].seq, ref_seq=view.seq)

    def queue_heartbeat(self, now: float) -> Outgoing:
        """Queue a heartbeat: queue depth, the chain checkpoint over every earlier seq, and the
        seqs this vessel declares it will never send (``vessel_agent.lost``), read and
        remembered in the same transaction."""
        db = self.outbox.db

        def build(s: VesselSession) -> list[Outgoing]:
            count, ranges = lost.declare(db, s.next_seq)
            return [s.queue_heartbeat(int(now), lost=ranges, lost_count=count)]

        return self.outbox.queue(self.session, build, Kind.HEARTBEAT)[0]

    def queue_position(
        self, *, time_s: int, lat: float, lon: float, speed_kn: float, course_deg: int, now: float
    ) -> Outgoing:
        return self.outbox.queue(
            self.session,
            lambda s: [
                s.queue_position(
                    time=time_s, lat=lat, lon=lon, speed_kn=speed_kn, course_deg=course_deg, now=now
                )
            ],
            Kind.POSITION,
        )[0]

    def lookup(self, code: str) -> ReceiptView | None:
        """The state of the message a receipt code names (None: no such receipt here).

        Raises:
            ReceiptError: the code is not 10 digits.
        """
        salt = self.outbox.meta("receipt_salt")
        if not isinstance(salt, bytes):
            return None
        return self.outbox.lookup(receipt.code_hash(code, salt))
