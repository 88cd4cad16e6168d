"""An in-process modem + shore for agent tests: frames go to a real ShoreSession, acks come back
as shore-signed MT messages (the modem emulator on a pty is exercised in test_e2e.py)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from firmware_bridge.driver import SessionResult
from firmware_bridge.status import classify
from protocol import keys
from protocol.shore import ShoreSession
from tests.helpers import ShoreKeys


class FakeModem:
    """Implements the ModemLike surface the agent uses."""

    def __init__(
        self,
        shore_keys: ShoreKeys,
        device_pub: object,
        *,
        codes: list[int] | None = None,
        bars: int = 5,
        auto_ack: bool = True,
        clock: Callable[[], float] = lambda: 1_750_000_000.0,
    ) -> None:
        kid = keys.key_id(device_pub)  # type: ignore[arg-type]
        self.device_kid = kid
        self.shore = ShoreSession(
            sign_key=shore_keys.sign,
            lookup=lambda k: [("vessel", device_pub)] if k == kid else [],  # type: ignore[list-item]
        )
        self.codes = list(codes or [])
        self.bars = bars
        self.auto_ack = auto_ack
        self.clock = clock
        self.mo = b""
        self.mt: deque[bytes] = deque()
        self.mt_buffer = b""
        self.on_air: list[bytes] = []
        self.received: list[int] = []
        self.ring = False
        self.momsn = 0
        self.sessions: list[int] = []
        self.closed = False

    def initialise(self, echo: bool | None = None) -> None:
        pass

    def enable_ring_alerts(self, on: bool = True) -> None:
        pass

    def signal(self) -> int:
        return self.bars

    def write_mo(self, data: bytes) -> None:
        assert 1 <= len(data) <= 340
        self.mo = data

    def clear(self, buffers: str = "both") -> None:
        if buffers in ("mo", "both"):
            self.mo = b""

    def poll_ring(self) -> bool:
        seen, self.ring = self.ring, False
        return seen

    def queue_mt(self, data: bytes, ring: bool = True) -> None:
        self.mt.append(data)
        self.ring = ring

    def session(
        self, answer_ring: bool = False, location: tuple[float, float] | None = None
    ) -> SessionResult:
        code = self.codes.pop(0) if self.codes else 0
        outcome = classify(code)
        self.sessions.append(code)
        mt_status = 0
        if outcome.ok:
            self.momsn = (self.momsn + 1) & 0xFFFF
            if self.mo:
                self.on_air.append(self.mo)
                _, _, events = self.shore.receive_frame(self.mo, self.clock())
                self.received += [e.seq for e in events if hasattr(e, "message")]
                if self.auto_ack:
                    for frame in self.shore.downlink(
                        self.device_kid, self.shore.acks_for("vessel"), int(self.clock())
                    ):
                        self.mt.append(frame)
            if self.mt:
                self.mt_buffer = self.mt.popleft()
                mt_status = 1
        return SessionResult(
            mo_status=code,
            momsn=self.momsn,
            mt_status=mt_status,
            mtmsn=0,
            mt_length=len(self.mt_buffer) if mt_status else 0,
            mt_queued=len(self.mt),
            outcome=outcome,
        )

    def read_mt(self) -> bytes:
        return self.mt_buffer

    def close(self) -> None:
        self.closed = True
