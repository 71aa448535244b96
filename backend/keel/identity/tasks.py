"""Housekeeping of the authorization server's credentials."""

from __future__ import annotations

from datetime import timedelta

import structlog

from keel.core.db import runtime_database
from keel.core.jobs import job_app
from keel.core.uow import job_unit_of_work
from keel.identity import repository

log = structlog.get_logger("keel.identity")
KEPT_AFTER_END = timedelta(days=1)  # long enough to recognise a replay and answer it as one


@job_app.periodic(cron="17 * * * *", periodic_id="purge_spent_credentials")
@job_app.task(name="identity.purge_spent_credentials", queue="maintenance", queueing_lock="purge-credentials")
async def purge_spent_credentials(timestamp: int) -> int:
    """Delete codes, refresh tokens, sessions and e-mailed links a day after they stopped working."""
    async with job_unit_of_work(runtime_database(), None) as uow:
        removed = await repository.delete_spent_credentials(uow.session, KEPT_AFTER_END)
    log.info("spent_credentials_purged", removed=removed)
    return removed
