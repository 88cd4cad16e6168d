"""Shared request-parameter types for the gateway's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

# A database row id in a URL: bounded to what every supported database stores (a larger
# integer would overflow the driver and surface as a 500 instead of a clear 422).
RowId = Annotated[int, Path(ge=1, le=2**63 - 1, description="row id")]
