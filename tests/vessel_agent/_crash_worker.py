"""Crash-test worker: submit grievances in a loop, printing each one only after submit returned.

Run as ``python -m tests.vessel_agent._crash_worker DIR TAG``; the test kills it with SIGKILL.
"""

from __future__ import annotations

import sys

from protocol.lang import Lang
from vessel_agent.device import Device


def main() -> None:
    path, tag = sys.argv[1], sys.argv[2]
    with Device(path) as dev:
        print("ready", flush=True)
        for i in range(10_000):
            done = dev.submit(
                category=0x17 if i % 3 else 0xF1, lang=Lang.EN, text=f"crash {tag} {i}"
            )
            print(f"{done.seq} {done.fragments} {done.receipt}", flush=True)


if __name__ == "__main__":
    main()
