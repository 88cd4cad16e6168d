"""`flip packet open` says how the vessel handled Burmese typed in Zawgyi (grievance element 6):
the converted text and the words exactly as typed, never one of them silently."""

from __future__ import annotations

from pathlib import Path

import pytest

from flip import keyfiles
from protocol.crew import Grievance, Zawgyi, ZawgyiMode
from protocol.lang import Lang
from protocol.vessel import VesselSession
from tests.flip.packet import new_keys, open_frame

TYPED = "ခုႏွစ္လ လစာ မရပါ"
CONVERTED = "ခုနှစ်လ လစာ မရပါ"


def test_packet_open_shows_the_zawgyi_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new_keys(tmp_path)
    sign = keyfiles.load_signing(str(tmp_path / "mv-sign.pem"))
    seal_pub = keyfiles.load(str(tmp_path / "shore-seal.pub.pem"), "seal_public")
    session = VesselSession(
        sign_key=sign,
        shore_sign_pub=sign.public_key(),
        shore_seal_pub=seal_pub,  # type: ignore[arg-type]
        next_seq=1,
    )
    note = Zawgyi(mode=ZawgyiMode.CONVERTED, probability=999, other=TYPED)
    session.queue_crew(Grievance(category=0x17, lang=Lang.MY, text=CONVERTED, zawgyi=note), 1)
    (frame,) = session.frames_to_send(2, max_frames=1)
    path = tmp_path / "frame.bin"
    path.write_bytes(frame.data)
    capsys.readouterr()
    status, opened = open_frame(capsys, tmp_path, path)
    assert status == 0
    (msg,) = opened["messages"]
    assert msg["text"] == CONVERTED
    assert msg["zawgyi"] == {"mode": "converted", "probability": 0.999, "typed": TYPED}
