"""``/api/integrations``: connected integrations and the Google Calendar OAuth hand-off."""

# No "from __future__ import annotations": FastAPI reads the Annotated aliases at import time.

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends

from xentree_provider.testing.dependencies import Authenticated, CurrentState, Paging, Principal
from xentree_provider.testing.responses import shaped_list, timestamp
from xentree_provider.testing.seed import random_token

router = APIRouter()
IntegrationReader = Annotated[Principal, Depends(Authenticated("integrations:read"))]
IntegrationWriter = Annotated[Principal, Depends(Authenticated("integrations:write"))]


@router.get("/api/integrations")
async def list_integrations(state: CurrentState, caller: IntegrationReader, params: Paging) -> Any:
    """List the caller's integrations."""
    return shaped_list(
        state,
        state.world.integrations,
        lambda integration: {**integration, "connected_at": timestamp(state, integration["connected_at"])},
        params,
    )


@router.get("/api/integrations/google-calendar/connect")
async def google_calendar_connect(state: CurrentState, caller: IntegrationWriter) -> dict[str, Any]:
    """Return the Google OAuth URL a user must open in a browser."""
    oauth_state = random_token(state.tokens.rng, 12)
    query = urlencode(
        {
            "client_id": "xentree-sandbox.apps.googleusercontent.com",
            "response_type": "code",
            "scope": "https://www.googleapis.com/auth/calendar.readonly",
            "state": oauth_state,
        }
    )
    return {"auth_url": f"https://accounts.google.com/o/oauth2/v2/auth?{query}"}
