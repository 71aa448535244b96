"""The front door, `GET /`: what this instance is and where to go from here.

Rendered like the sign-in pages (same layout, CSP with a nonce, no framing), since it is their way in.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from keel.core.config import get_settings
from keel.identity.browser import render

router = APIRouter(include_in_schema=False)

# Said on the page outside production, so nobody mistakes a demo for the real thing.
_ENV_LABELS = {"dev": "development instance", "test": "test instance"}


@router.get("/")
async def front_door(request: Request) -> HTMLResponse:
    settings = get_settings()
    return render(
        request, "front_door.html", instance=settings.issuer, env_label=_ENV_LABELS.get(settings.env)
    )
