"""The one path to cross-organisation actions (create an organisation, list all of them).

It uses its own role, `keel_platform`, through its own pool; tenant requests never reach it. Every
platform unit of work must record what it did in `platform_audit_events`, or it does not commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

from keel.core.db import Database, platform_database
from keel.core.uow import UnitOfWork
from keel.models import PlatformAuditEvent


class PlatformUnitOfWork(UnitOfWork):
    def __init__(self, *args: Any, operator: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.operator = operator
        self.actor = f"platform:{operator}"
        self.audited = False

    def record_platform_action(
        self, action: str, *, org_id: UUID | None = None, detail: dict[str, Any] | None = None
    ) -> None:
        self.session.add(
            PlatformAuditEvent(actor=self.actor, action=action, target_org_id=org_id, detail=detail)
        )
        self.audited = True


class UnauditedPlatformAction(RuntimeError):
    pass


@asynccontextmanager
async def platform_unit_of_work(
    operator: str, db: Database | None = None
) -> AsyncIterator[PlatformUnitOfWork]:
    """A platform transaction on behalf of `operator` (a person or process, named in the audit row)."""
    async with (db or platform_database()).sessions() as session:
        uow = PlatformUnitOfWork(session, operator=operator)
        try:
            yield uow
            if not uow.audited:
                raise UnauditedPlatformAction("platform actions must call record_platform_action")
        except BaseException:
            await session.rollback()
            raise
        await session.commit()
        await uow.run_after_commit()
