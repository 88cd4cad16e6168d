"""Test servers: run an ASGI app with uvicorn on a free port in a thread; a fake Primero v2."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import jwt
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response


class ServerThread:
    """uvicorn on 127.0.0.1:0 in a daemon thread; ``url`` once started."""

    def __init__(self, app: Any) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    @property
    def url(self) -> str:
        sock = self.server.servers[0].sockets[0]
        return f"http://127.0.0.1:{sock.getsockname()[1]}"

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


class FakePrimero:
    """Enough of Primero v2 for the connector: tokens, create with client id, PATCH, outages."""

    SECRET = "fake-primero-signing-key-0123456789abcdef"

    def __init__(self, token_ttl_s: int = 3600) -> None:
        self.token_ttl_s = token_ttl_s
        self.down = False
        self.cases: dict[str, dict[str, Any]] = {}
        self.creates: dict[str, int] = {}
        self.patches: list[tuple[str, dict[str, Any]]] = []
        self.logins = 0
        self.revoked: set[str] = set()
        self.app = self._build()

    def revoke_all(self) -> None:
        self.revoked.add("*")

    def _auth(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ")
        if "*" in self.revoked:
            self.revoked.add(token)
            self.revoked.discard("*")
        if token in self.revoked:
            return False
        try:
            jwt.decode(token, self.SECRET, algorithms=["HS256"])
        except jwt.PyJWTError:
            return False
        return True

    def _build(self) -> FastAPI:
        app = FastAPI()

        @app.middleware("http")
        async def outage(request: Request, call_next: Any) -> Response:
            if self.down:
                return JSONResponse({"error": "maintenance"}, status_code=503)
            return await call_next(request)  # type: ignore[no-any-return]

        @app.post("/api/v2/tokens")
        async def tokens(request: Request) -> Response:
            body = await request.json()
            if body["user"]["user_name"] != "primero" or body["user"]["password"] != "pw":
                return JSONResponse({"errors": ["bad login"]}, status_code=401)
            self.logins += 1
            exp = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.token_ttl_s)
            token = jwt.encode(
                {"sub": "primero", "exp": exp, "n": self.logins}, self.SECRET, algorithm="HS256"
            )
            return JSONResponse({"id": 1, "user_name": "primero", "token": token})

        @app.post("/api/v2/cases")
        async def create(request: Request) -> Response:
            if not self._auth(request):
                return JSONResponse({"errors": ["unauthorized"]}, status_code=401)
            data = (await request.json())["data"]
            if data["id"] in self.cases:
                return JSONResponse({"errors": ["conflict"]}, status_code=409)
            self.cases[data["id"]] = data
            self.creates[data["id"]] = self.creates.get(data["id"], 0) + 1
            return Response(status_code=204)

        @app.patch("/api/v2/cases/{case_id}")
        async def patch(case_id: str, request: Request) -> Response:
            if not self._auth(request):
                return JSONResponse({"errors": ["unauthorized"]}, status_code=401)
            if case_id not in self.cases:
                return JSONResponse({"errors": ["not found"]}, status_code=404)
            data = (await request.json())["data"]
            self.cases[case_id].update(data)
            self.patches.append((case_id, data))
            return JSONResponse({"data": self.cases[case_id]})

        return app
