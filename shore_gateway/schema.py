"""Every table of the gateway, in one metadata: what Alembic (``migrations/env.py``) and the
models-vs-migrations test compare against.

Tables are defined next to the code that owns them; each module below imports only
:mod:`shore_gateway.tables` (and the tables it points at), never this module, so no import
circle can form. A new table module is added here (``tests/shore_gateway/test_tables.py`` fails
until it is).
"""

from __future__ import annotations

import shore_gateway.cases.conversation_models
import shore_gateway.cases.models
import shore_gateway.models
import shore_gateway.web.models
from shore_gateway.tables import metadata

#: The modules that define tables.
TABLE_MODULES = (
    shore_gateway.models,
    shore_gateway.cases.models,
    shore_gateway.cases.conversation_models,
    shore_gateway.web.models,
)

__all__ = ["TABLE_MODULES", "metadata"]
