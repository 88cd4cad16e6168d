"""MT (shore → RockBLOCK 9704) through Cloudloop's Data API (FIELD-FACTS §11).

``POST {api}/Data/DoSendImtMessage`` with ``token`` (the account's API token), ``thing`` (the
Cloudloop Thing id of the modem — not its IMEI), ``message`` (base64, 1..100,000 bytes) and
``topic`` queues one IMT message; ``GET {api}/Data/GetMtDeliveryStatus?token=…&message=ID``
reports its state. The tests run this client against the emulated provider that
``flip bridge emulate --model 9704 --api-listen`` serves.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from typing import Any

import httpx

from shore_gateway.errors import RemoteError

MAX_MT = 100_000
RAW_TOPIC = 244


class CloudloopError(RemoteError, RuntimeError):
    """The API refused the request or could not be reached (``status``: HTTP status or 0)."""

    def __init__(self, message: str, *, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class CloudloopMT:
    """An MT sender for one Cloudloop account."""

    api: str  # base URL; "Data/…" is appended
    token: str
    timeout_s: float = 10.0

    def _url(self, endpoint: str) -> str:
        return self.api.rstrip("/") + "/Data/" + endpoint

    async def send(self, thing: str, payload: bytes, *, topic: int = RAW_TOPIC) -> str:
        """Queue one MT message for ``thing``; returns the provider's message id.

        Raises:
            ValueError: empty or over 100,000 bytes, or no thing id.
            CloudloopError: the API answered non-2xx, without an id, or was unreachable.
        """
        if not 1 <= len(payload) <= MAX_MT or not thing:
            raise ValueError(f"an IMT MT message holds 1..{MAX_MT} bytes for a known Thing")
        form = {
            "token": self.token,
            "thing": thing,
            "topic": str(topic),
            "message": binascii.b2a_base64(payload, newline=False).decode("ascii"),
        }
        body = await self._call("POST", "DoSendImtMessage", data=form)
        message_id = body.get("id")
        if not isinstance(message_id, str) or not message_id:
            raise CloudloopError("DoSendImtMessage answered without a message id")
        return message_id

    async def status(self, message_id: str) -> str:
        """The provider's delivery state of an MT message (e.g. ``queued``, ``delivered``)."""
        body = await self._call(
            "GET", "GetMtDeliveryStatus", params={"token": self.token, "message": message_id}
        )
        return str(body.get("status", "unknown"))

    async def _call(self, method: str, endpoint: str, **kwargs: Any) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                reply = await client.request(method, self._url(endpoint), **kwargs)
        except httpx.HTTPError as exc:
            raise CloudloopError(f"{endpoint}: {type(exc).__name__}") from exc
        if not reply.is_success:
            raise CloudloopError(f"{endpoint}: HTTP {reply.status_code}", status=reply.status_code)
        try:
            body = reply.json()
        except ValueError:
            raise CloudloopError(f"{endpoint}: answer is not JSON") from None
        if not isinstance(body, dict):
            raise CloudloopError(f"{endpoint}: answer is not a JSON object")
        return body
