"""DirectIP senders for the gateway bench, run in a process of their own.

Iridium's servers are not in the gateway's process: run as threads beside it, the senders
would take its interpreter lock and CPU and the bench would measure them with the gateway.
:func:`send_in_process` starts ``python -m bench.senders`` (a fresh interpreter: nothing of the
gateway's threads or event loop is copied into it, and the caller's main module is not run
again as ``multiprocessing``'s spawn would). The child imports only the DirectIP codec, so it
starts quickly; its clock starts when the first message is sent. The messages go to it on
stdin and its figures come back on stdout, as JSON.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

from firmware_bridge.directip import (
    DirectIPReader,
    MOHeader,
    MOMessage,
    decode_mo_confirmation,
    encode_mo,
)

# (payload, IMEI, MOMSN) of one MO message.
Item = tuple[bytes, str, int]


def mo_message(payload: bytes, *, imei: str, momsn: int) -> bytes:
    """One MO message as Iridium's gateway sends it (header and payload IEs)."""
    return encode_mo(
        MOMessage(
            header=MOHeader(
                cdr_reference=momsn & 0xFFFFFFFF,
                imei=imei,
                session_status=0,
                momsn=momsn & 0xFFFF,
                mtmsn=0,
                session_time=1_763_640_000,
            ),
            payload=payload,
        )
    )


async def deliver(address: tuple[str, int], message: bytes) -> bool:
    """One connection, one message, the confirmation read back: True when it says success."""
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(message)
        framer = DirectIPReader(max_message=64)
        while True:
            chunk = await reader.read(64)
            done = framer.receive_data(chunk or None)
            if done:
                return decode_mo_confirmation(done[0]).success
            if not chunk:
                return False
    finally:
        writer.close()


def send_all(
    address: tuple[str, int], items: list[Item], senders: int
) -> tuple[float, list[float], int]:
    """Deliver every item with ``senders`` connections at a time, as Iridium does.

    Returns (seconds from the first send to the last confirmation, each message's latency from
    connecting to reading its confirmation, how many were confirmed). The senders are
    coroutines of one event loop: as threads, each confirmation waited for the interpreter lock
    before its sender could connect again, which the bench counted as the gateway's time.
    """
    messages = iter([mo_message(p, imei=imei, momsn=n) for p, imei, n in items])
    latencies: list[float] = []
    confirmed = 0

    async def sender() -> None:
        nonlocal confirmed
        for message in messages:  # shared: each sender takes the next message when free
            start = time.perf_counter()
            ok = await asyncio.wait_for(deliver(address, message), 30)
            confirmed += ok  # not `+= await`: that reads the count before waiting
            latencies.append(time.perf_counter() - start)

    async def run() -> float:
        start = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(senders)))
        return time.perf_counter() - start

    seconds = asyncio.run(run())
    return seconds, latencies, confirmed


def send_in_process(
    address: tuple[str, int], items: list[Item], senders: int = 8
) -> tuple[float, list[float], int]:
    """:func:`send_all` in a child process (see the module docstring)."""
    request = {
        "address": list(address),
        "senders": senders,
        "items": [[payload.hex(), imei, momsn] for payload, imei, momsn in items],
    }
    child = subprocess.run(
        [sys.executable, "-m", "bench.senders"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    answer = json.loads(child.stdout)
    return answer["seconds"], answer["latencies"], answer["confirmed"]


def main() -> None:
    """The child: a request on stdin (:func:`send_in_process`), the figures on stdout."""
    request = json.load(sys.stdin)
    host, port = request["address"]
    items = [(bytes.fromhex(p), imei, momsn) for p, imei, momsn in request["items"]]
    seconds, latencies, confirmed = send_all((host, port), items, request["senders"])
    json.dump({"seconds": seconds, "latencies": latencies, "confirmed": confirmed}, sys.stdout)


if __name__ == "__main__":
    main()
