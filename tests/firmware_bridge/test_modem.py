"""The sans-IO modem state machine: exact response bytes, timers on a virtual clock."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.link import Scripted
from firmware_bridge.modem import BytesOut, ModemMachine, MOSent, checksum

IMEI = "300234010753370"


def out(events: list) -> bytes:  # type: ignore[type-arg]
    return b"".join(e.data for e in events if isinstance(e, BytesOut))


def run(m: ModemMachine, data: bytes, now: float = 0.0) -> bytes:
    return out(m.receive_data(data, now))


def session(
    m: ModemMachine, command: bytes = b"AT+SBDIX\r", now: float = 0.0
) -> tuple[bytes, list[MOSent]]:
    first = run(m, command, now)
    timer = m.get_timer()
    assert timer is not None
    events = m.handle_timer(timer)
    return first + out(events), [e for e in events if isinstance(e, MOSent)]


VECTORS = [
    (b"AT\r", b"AT\r\r\nOK\r\n"),
    (b"AT+CGSN\r", b"AT+CGSN\r\r\n300234010753370\r\n\r\nOK\r\n"),
    (b"AT+CSQ\r", b"AT+CSQ\r\r\n+CSQ:5\r\n\r\nOK\r\n"),
    (b"AT+SBDMTA?\r", b"AT+SBDMTA?\r\r\n+SBDMTA:1\r\n\r\nOK\r\n"),
    (b"AT+SBDMTA=0\r", b"AT+SBDMTA=0\r\r\nOK\r\n"),
    (b"AT+SBDD0\r", b"AT+SBDD0\r\r\n0\r\n\r\nOK\r\n"),
    (b"AT&K0\r", b"AT&K0\r\r\nOK\r\n"),
    (b"AT+SBDWT=hi\r", b"AT+SBDWT=hi\r\r\nOK\r\n"),
    (b"AT+SBDSX\r", b"AT+SBDSX\r\r\n+SBDSX: 0, 0, 0, -1, 0, 0\r\n\r\nOK\r\n"),
    (b"AT+CRIS\r", b"AT+CRIS\r\r\n+CRIS:000,000\r\n\r\nOK\r\n"),
    (b"AT+FOO\r", b"AT+FOO\r\r\nERROR\r\n"),
    (b"hello\r", b"hello\r\r\nERROR\r\n"),
    (b"AT+SBDWB=0\r", b"AT+SBDWB=0\r\r\n3\r\n\r\nOK\r\n"),
    (b"AT+SBDWB=341\r", b"AT+SBDWB=341\r\r\n3\r\n\r\nOK\r\n"),
    (b"AT+SBDRB\r", b"AT+SBDRB\r\x00\x00\x00\x00\r\nOK\r\n"),
    (b"\r", b"\r"),
]


def test_exact_framing_echo_on() -> None:
    for command, expected in VECTORS:
        assert run(ModemMachine(imei=IMEI), command) == expected, command


def test_echo_off_and_crlf_hosts() -> None:
    m = ModemMachine(imei=IMEI)
    assert run(m, b"ATE0\r\n") == b"ATE0\r\r\nOK\r\n"
    assert run(m, b"AT+CSQ\r\n") == b"\r\n+CSQ:5\r\n\r\nOK\r\n"
    assert run(m, b"AT&F0\r") == b"\r\nOK\r\n"
    assert run(m, b"AT\r") == b"AT\r\r\nOK\r\n"  # &F0 restored echo


def test_sbdwb_hello_vector_and_errors() -> None:
    m = ModemMachine(imei=IMEI, echo=False)
    assert run(m, b"AT+SBDWB=5\r") == b"\r\nREADY\r\n"
    assert run(m, bytes.fromhex("68656c6c6f0214")) == b"\r\n0\r\n\r\nOK\r\n"
    assert m.mo_buffer == b"hello"
    assert run(m, b"AT+SBDWB=5\r") == b"\r\nREADY\r\n"
    assert run(m, bytes.fromhex("68656c6c6f0215")) == b"\r\n2\r\n\r\nOK\r\n"
    assert m.mo_buffer == b"hello"


def test_sbdwb_timeout_uses_injected_time() -> None:
    m = ModemMachine(imei=IMEI, echo=False, write_timeout_s=60.0)
    run(m, b"AT+SBDWB=10\r", now=100.0)
    run(m, b"abc", now=101.0)
    assert m.get_timer() == 160.0
    assert out(m.handle_timer(159.9)) == b""
    assert out(m.handle_timer(160.0)) == b"\r\n1\r\n"  # no OK after 1
    assert run(m, b"AT\r", now=161) == b"\r\nOK\r\n"


def test_binary_payload_with_cr_lf_is_not_a_command_line() -> None:
    m = ModemMachine(imei=IMEI, echo=False)
    payload = b"\r\nAT\r\x00\xff" * 10
    run(m, f"AT+SBDWB={len(payload)}\r".encode())
    assert run(m, payload + checksum(payload)) == b"\r\n0\r\n\r\nOK\r\n"
    response, sent = session(m)
    assert response == b"\r\n+SBDIX: 0, 0, 0, 0, 0, 0\r\n\r\nOK\r\n"
    assert sent[0].payload == payload
    run(m, b"AT+SBDTC\r")
    assert (
        run(m, b"AT+SBDRB\r")
        == len(payload).to_bytes(2, "big") + payload + checksum(payload) + b"\r\nOK\r\n"
    )


def test_momsn_and_mtmsn_wrap() -> None:
    m = ModemMachine(imei=IMEI, echo=False, momsn=65535, next_mtmsn=65535)
    run(m, b"AT+SBDWT=x\r")
    m.queue_mt(b"a", 0)
    m.queue_mt(b"b", 0)
    response, sent = session(m)
    assert response == b"\r\n+SBDIX: 0, 65535, 1, 65535, 1, 1\r\n\r\nOK\r\n"
    assert sent[0].momsn == 65535 and sent[0].mtmsn == 65535
    response, _ = session(m)
    assert response == b"\r\n+SBDIX: 0, 0, 1, 1, 1, 0\r\n\r\nOK\r\n"


def test_failed_session_reports_mt_error_and_keeps_momsn() -> None:
    m = ModemMachine(imei=IMEI, echo=False, link=Scripted([32, 18]), momsn=3)
    run(m, b"AT+SBDWT=x\r")
    assert session(m)[0] == b"\r\n+SBDIX: 32, 3, 2, 0, 0, 0\r\n\r\nOK\r\n"
    assert session(m)[0] == b"\r\n+SBDIX: 18, 3, 2, 0, 0, 0\r\n\r\nOK\r\n"
    response, sent = session(m)
    assert response.startswith(b"\r\n+SBDIX: 0, 3,") and len(sent) == 1


def test_input_during_session_is_held_until_it_ends() -> None:
    m = ModemMachine(imei=IMEI, echo=False)
    run(m, b"AT+SBDIX\r")
    assert run(m, b"AT+CSQ\r") == b""
    assert out(m.handle_timer(1.0)).endswith(b"+CSQ:5\r\n\r\nOK\r\n")


def test_ring_alert_when_idle_and_location_session() -> None:
    m = ModemMachine(imei=IMEI, echo=False)
    run(m, b"AT+SBDMTA=1\r")
    _, events = m.queue_mt(b"hi", 0)
    assert out(events) == b"SBDRING\r\n"
    assert run(m, b"AT+CRIS\r") == b"\r\n+CRIS:000,001\r\n\r\nOK\r\n"
    run(m, b"AT+SBDWT=loc\r")
    response, sent = session(m, b"AT+SBDIXA=5212.483,-00007.350\r")
    assert response == b"\r\n+SBDIX: 0, 0, 1, 1, 2, 0\r\n\r\nOK\r\n"
    assert sent[0].location is not None
    lat, lon = sent[0].location
    assert abs(lat - 52.208) < 1e-3 and abs(lon + 0.1225) < 1e-3
    assert run(m, b"AT+SBDSX\r") == b"\r\n+SBDSX: 1, 1, 1, 1, 0, 0\r\n\r\nOK\r\n"
    assert run(m, b"AT+SBDIX=9999.999,0\r") == b"\r\nERROR\r\n"


def test_ring_is_deferred_while_a_command_is_typed() -> None:
    m = ModemMachine(imei=IMEI, echo=False)
    run(m, b"AT+CS")
    _, events = m.queue_mt(b"hi", 0)
    assert out(events) == b""
    assert run(m, b"Q\r") == b"\r\n+CSQ:5\r\n\r\nOK\r\nSBDRING\r\n"


def test_text_write_and_read() -> None:
    m = ModemMachine(imei=IMEI)
    assert run(m, b"AT+SBDWT\r") == b"AT+SBDWT\r\r\nREADY\r\n"
    assert run(m, b"hello world\r") == b"hello world\r\r\n0\r\n\r\nOK\r\n"
    run(m, b"AT+SBDTC\r")
    assert run(m, b"AT+SBDRT\r") == b"AT+SBDRT\r\r\n+SBDRT:\r\nhello world\r\nOK\r\n"


def test_radio_off_gives_34() -> None:
    m = ModemMachine(imei=IMEI, echo=False)
    run(m, b"AT*R0\r")
    assert session(m)[0] == b"\r\n+SBDIX: 34, 0, 2, 0, 0, 0\r\n\r\nOK\r\n"
    assert run(m, b"AT-MSSTM\r") == b"\r\n-MSSTM: no network service\r\n\r\nOK\r\n"


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.sampled_from([c for c, _ in VECTORS] + [b"AT+SBDWB=3\r", b"abc\x02\x14"]), max_size=8
    )
)
def test_byte_by_byte_equals_whole(commands: list[bytes]) -> None:
    stream = b"".join(commands)
    whole = run(ModemMachine(imei=IMEI), stream)
    m = ModemMachine(imei=IMEI)
    single = b"".join(run(m, stream[i : i + 1]) for i in range(len(stream)))
    assert whole == single


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_never_crashes(data: bytes) -> None:
    m = ModemMachine(imei=IMEI)
    run(m, data)
    m.handle_timer(1e6)
    assert run(m, b"\rAT\r").endswith(b"OK\r\n")


def test_sans_io_modules_import_no_io() -> None:
    import ast
    from pathlib import Path

    import firmware_bridge

    banned = {"socket", "serial", "threading", "select", "time", "os", "asyncio", "pty"}
    root = Path(firmware_bridge.__file__).parent
    for name in ("modem.py", "directip.py", "status.py", "link.py"):
        tree = ast.parse((root / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                names = {(node.module or "").split(".")[0]}
            else:
                continue
            assert not names & banned, (name, names & banned)
