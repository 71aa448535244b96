"""The unit of work: one transaction per request (or job), opened and committed at the edge.

`UnitOfWorkRoute` wraps every route handler: it opens a session (no connection is taken until first
use), runs the handler, and commits when the response status is below 400 (or when the handler
recorded a security event that must stand) and rolls back otherwise — before the response leaves,
so a client never sees success for a change that did not commit.
Services and repositories never commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Annotated, Any
from uuid import UUID

import structlog
from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from keel.core.changes import publish_changes, track_changes
from keel.core.db import Database, runtime_database, set_tenant_context
from keel.core.errors import Problem

SuccessHook = Callable[[Response], Awaitable[None]]
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class UnitOfWork:
    """A transaction bound to at most one organisation, plus work to finish before it commits."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.org_id: UUID | None = None
        self.user_id: UUID | None = None
        self.actor: str | None = None
        self.client_id: str | None = None  # the OAuth client a user acts through, for the audit trail
        self.request_id: str | None = None
        self.client_ip: str | None = None
        self.user_agent: str | None = None
        # What an Idempotency-Key replay returns, when it must differ from the response (secrets).
        self.replay_body: bytes | None = None
        self._before_commit: list[SuccessHook] = []
        self._after_commit: list[Callable[[], Awaitable[None]]] = []
        # Set for security records that must outlive the refusal they cause (e.g. token reuse).
        self.commit_despite_error = False
        self.changed_tables = track_changes(session)

    async def enter_tenant(
        self,
        org_id: UUID,
        *,
        user_id: UUID | None = None,
        actor: str | None = None,
        record_scope: str | None = None,
    ) -> None:
        await set_tenant_context(self.session, org_id, user_id, record_scope)
        self.tenant_entered(org_id, user_id=user_id, actor=actor)

    def tenant_entered(self, org_id: UUID, *, user_id: UUID | None = None, actor: str | None = None) -> None:
        """Record a tenant context the transaction already holds (set in SQL by the caller)."""
        self.org_id, self.user_id, self.actor = org_id, user_id, actor
        structlog.contextvars.bind_contextvars(org_id=str(org_id))
        if user_id is not None:
            structlog.contextvars.bind_contextvars(user_id=str(user_id))

    @property
    def tenant(self) -> UUID:
        """The organisation this unit of work is bound to; a route without one is a programming error."""
        if self.org_id is None:
            raise RuntimeError("unit of work has no tenant")
        return self.org_id

    @asynccontextmanager
    async def whole_organisation(self) -> AsyncIterator[None]:
        """See every record of the organisation for a consequence the caller's change carries though it
        touches records outside their scope (a won deal makes its account a customer). What the caller
        wrote so far is flushed first, so it is still checked against their own scope."""
        await self.session.flush()
        scope = await self.session.scalar(text("SELECT current_setting('app.scope', true)"))
        restore = text("SELECT set_config('app.scope', :scope, true)").bindparams(scope=scope or "")
        await self.session.execute(text("SELECT set_config('app.scope', 'all', true)"))
        try:
            yield
            await self.session.flush()
        except BaseException:
            with suppress(SQLAlchemyError):  # a failed transaction is rolled back: nothing to restore
                await self.session.execute(restore)
            raise
        await self.session.execute(restore)

    @asynccontextmanager
    async def savepoint(self, *, keep: bool = True) -> AsyncIterator[None]:
        """Run a block in a savepoint, kept when it succeeds, or always undone with `keep=False` (a
        dry run: the block does everything but leaves no trace)."""
        nested = await self.session.begin_nested()
        try:
            yield
        except BaseException:
            await nested.rollback()
            raise
        await (nested.commit() if keep else nested.rollback())

    def before_commit(self, hook: SuccessHook) -> None:
        """Run `hook(response)` inside the transaction, after the handler succeeded."""
        self._before_commit.append(hook)

    def after_commit(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run `hook()` once the transaction has committed (e.g. to publish what it changed to caches).
        A failing hook is logged: the change itself is already durable."""
        self._after_commit.append(hook)

    async def finish(self, response: Response) -> None:
        for hook in self._before_commit:
            await hook(response)
        await self.session.commit()
        await self.run_after_commit()

    async def run_after_commit(self) -> None:
        await publish_changes(self.org_id, self.changed_tables)
        for hook in self._after_commit:
            try:
                await hook()
            except Exception:
                structlog.get_logger("keel.uow").exception("after_commit_hook_failed")


class ReplayResponse(Exception):
    """Raised below a route to answer with a stored response instead of running the handler."""

    def __init__(self, response: Response) -> None:
        super().__init__("replay")
        self.response = response


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def request_database(request: Request) -> Database:
    """The app's database: the one it was built with, else the runtime pool (created on first use)."""
    db: Database | None = getattr(request.app.state, "db", None)
    return db or runtime_database()


class UnitOfWorkRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()
        expects_body = self.body_field is not None

        async def run_in_unit_of_work(request: Request) -> Response:
            if expects_body and request.method in BODY_METHODS:
                content_type = request.headers.get("content-type", "")
                if not _is_json(content_type) and (content_type or await request.body()):
                    raise Problem(415, "Send the body as application/json.")
            db = request_database(request)
            async with db.sessions() as session:
                uow = UnitOfWork(session)
                uow.request_id = getattr(request.state, "request_id", None)
                uow.client_ip = request.client.host if request.client else None
                uow.user_agent = request.headers.get("user-agent")
                request.state.uow = uow
                try:
                    response: Response = await handler(request)
                except ReplayResponse as replay:
                    await session.rollback()
                    return replay.response
                except BaseException:
                    await session.rollback()
                    raise
                if response.status_code < 400 or uow.commit_despite_error:
                    await uow.finish(response)
                else:
                    await session.rollback()
                return response

        return run_in_unit_of_work


async def get_unit_of_work(request: Request) -> UnitOfWork:
    uow = getattr(request.state, "uow", None)
    if uow is None:
        raise RuntimeError("route is not a UnitOfWorkRoute")
    return uow  # type: ignore[no-any-return]


UoW = Annotated[UnitOfWork, Depends(get_unit_of_work)]


@asynccontextmanager
async def job_unit_of_work(db: Database, org_id: UUID | None) -> AsyncIterator[UnitOfWork]:
    """The unit of work of a job: the same tenant context a request would have; commits on success."""
    async with db.sessions() as session:
        uow = UnitOfWork(session)
        if org_id is not None:
            await uow.enter_tenant(org_id, actor="job")
        try:
            yield uow
        except BaseException:
            await session.rollback()
            raise
        await session.commit()
        await uow.run_after_commit()
