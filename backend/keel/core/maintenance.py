"""Platform housekeeping jobs that are not about any one organisation."""

from __future__ import annotations

from datetime import timedelta

import structlog

from keel.core.config import get_settings
from keel.core.db import runtime_database
from keel.core.idempotency import purge_expired
from keel.core.jobs import job_app
from keel.core.uow import job_unit_of_work

log = structlog.get_logger("keel.maintenance")


@job_app.periodic(cron="*/15 * * * *", periodic_id="purge_idempotency_keys")
@job_app.task(name="core.purge_idempotency_keys", queue="maintenance", queueing_lock="purge-idem")
async def purge_idempotency_keys(timestamp: int) -> int:
    """Forget Idempotency-Key rows older than the retention window, in every organisation."""
    ttl = timedelta(hours=get_settings().idempotency_ttl_hours)
    async with job_unit_of_work(runtime_database(), None) as uow:
        removed = await purge_expired(uow, ttl)
    log.info("idempotency_keys_purged", removed=removed)
    return removed
