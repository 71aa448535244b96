"""Activities and tickets: a call, e-mail or meeting logged on a ticket is its first response, if it has
none yet (the support team's response time)."""

from __future__ import annotations

from keel.activities import service
from keel.activities.schemas import ActivityCreate
from keel.core.principal import Principal
from keel.core.uow import UnitOfWork
from keel.models import Activity
from keel.tickets.service import mark_responded

RESPONSES = frozenset({"call", "email", "meeting"})  # what counts as answering a ticket


async def log_activity(uow: UnitOfWork, principal: Principal, body: ActivityCreate) -> Activity:
    activity = await service.create_activity(uow, principal, body)
    if activity.ticket_id is not None and activity.kind in RESPONSES:
        await mark_responded(uow, activity.ticket_id, activity.occurred_at)
    return activity
