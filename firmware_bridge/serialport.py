"""The serial shell both modem drivers share: one pyserial port, one lock, closed once, and every
port call turned into the transport errors of docs/style.md §5 (:class:`LinkClosed` when we
closed it, :class:`LinkBroken` when the port failed, cause chained)."""

from __future__ import annotations

import contextlib
import threading
from typing import Any, ClassVar, Self

import serial

from firmware_bridge.errors import LinkBroken, LinkClosed


class SerialLink:
    """Base of :class:`firmware_bridge.driver.Modem` (SBD, 19,200 baud) and
    :class:`firmware_bridge.imt_driver.IMTDriver` (RockBLOCK 9704, 230,400 baud)."""

    #: The line speed :meth:`open` sets (8N1, no flow control).
    baudrate: ClassVar[int]

    def __init__(self, port: serial.Serial) -> None:
        self._port = port
        self._lock = threading.RLock()
        self._closed = False

    @classmethod
    def open(cls, url: str, **kwargs: Any) -> Self:
        """Open ``url`` (device path or pyserial URL) at :attr:`baudrate` 8N1, no flow control.

        Raises:
            LinkBroken: the port cannot be opened (cause chained).
        """
        try:
            port = serial.serial_for_url(
                url,
                baudrate=cls.baudrate,
                bytesize=serial.EIGHTBITS,
                parity=serial.PARITY_NONE,
                stopbits=serial.STOPBITS_ONE,
                timeout=0.05,
                rtscts=False,
                xonxoff=False,
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise LinkBroken(f"cannot open {url}: {exc}") from exc
        return cls(port, **kwargs)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the port; further calls raise :class:`LinkClosed`."""
        with self._lock:
            if not self._closed:
                self._closed = True
                with contextlib.suppress(serial.SerialException, OSError):
                    self._port.close()

    def _io(self, fn: Any, *args: Any) -> Any:
        """One call on the port, its failures typed."""
        if self._closed:
            raise LinkClosed("modem link is closed")
        try:
            return fn(*args)
        except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
            raise LinkBroken(f"serial port failed: {exc}") from exc
