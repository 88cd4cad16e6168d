"""The web side of the gateway: case API, staff dashboard, owner portal, static files.

``create_app`` includes :data:`router` (one line); it carries the case REST API, the Primero
webhook, the HTML pages and the connectors' lifespan (dispatcher, MQTT subscriber).
"""

from __future__ import annotations

from fastapi import APIRouter

from shore_gateway.cases.api import router as cases_router
from shore_gateway.cases.messages_api import router as messages_router
from shore_gateway.cases.primero import webhook_router
from shore_gateway.cases.service import lifespan
from shore_gateway.web.casepage import router as case_router
from shore_gateway.web.conversation_page import router as conversation_router
from shore_gateway.web.pages import router as pages_router
from shore_gateway.web.portal import router as portal_router

router = APIRouter(lifespan=lifespan)
router.include_router(cases_router)
router.include_router(messages_router)
router.include_router(webhook_router)
router.include_router(pages_router)
router.include_router(case_router)
router.include_router(conversation_router)
router.include_router(portal_router)
