"""A DirectIP MO listener that plays the shore: verify frames, record messages, send acks back
through the emulator's MT queue (as the gateway would over DirectIP MT)."""

from __future__ import annotations

import socket
import threading
from typing import Any

from firmware_bridge.directip import DirectIPReader, decode_mo, encode_mo_confirmation
from protocol import frame, keys
from protocol.events import MessageReceived
from protocol.shore import ShoreSession
from tests.helpers import ShoreKeys


class ShoreListener:
    def __init__(self, shore: ShoreKeys, device_pub: Any, *, ack: bool = True) -> None:
        kid = keys.key_id(device_pub)
        self.kid = kid
        self.session = ShoreSession(
            sign_key=shore.sign, lookup=lambda k: [("vessel", device_pub)] if k == kid else []
        )
        self.ack = ack
        self.emulator: Any = None
        self.frames: list[bytes] = []
        self.imeis: list[str] = []
        self.by_seq: dict[int, bytes] = {}
        self.reused: list[int] = []
        self.received: list[MessageReceived] = []
        self.lock = threading.Lock()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.address = self.server.getsockname()[:2]
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self._stop.set()
        self.thread.join(5)
        self.server.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                reader = DirectIPReader()
                msgs: list[bytes] = []
                while not msgs:
                    chunk = conn.recv(4096)
                    msgs = reader.receive_data(chunk or None)
                    if not chunk:
                        break
                if not msgs:
                    continue
                mo = decode_mo(msgs[0])
                conn.sendall(encode_mo_confirmation(True))
                if mo.payload:
                    self._take(mo.header.imei, mo.payload)

    def _take(self, imei: str, data: bytes) -> None:
        with self.lock:
            self.frames.append(data)
            self.imeis.append(imei)
            sign1 = frame.parse(data, max_size=frame.UPLINK_MAX)
            for msg, encoded in frame.parse_uplink(sign1.payload):
                seq = msg.seq
                assert seq is not None
                if self.by_seq.setdefault(seq, encoded) != encoded:
                    self.reused.append(seq)
            _, _, events = self.session.receive_frame(data, 0.0)
            self.received += [e for e in events if isinstance(e, MessageReceived)]
            if self.ack and self.emulator is not None:
                acks = self.session.acks_for("vessel")
                for mt in self.session.downlink(self.kid, acks, 1_750_000_000):
                    self.emulator.queue_mt(mt)

    def seqs(self) -> set[int]:
        with self.lock:
            out = set()
            for e in self.received:
                out.add(e.seq)
                out.update(e.fragment_seqs)
            return out
