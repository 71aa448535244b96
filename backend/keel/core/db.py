"""Engines, sessions and the tenant context.

Three kinds of connection exist. The owner (migrations only), the runtime role `keel_app` that every
request and job uses (owns nothing, cannot bypass RLS) and the platform role `keel_platform`, reachable
only through `platform_unit_of_work`, the single audited path for cross-organisation actions.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from keel.core.config import Settings, get_settings
from keel.core.embedded import embedded_database_url
from keel.core.statements import fixed, rows

SET_CONTEXT = fixed(
    text(
        "SELECT set_config('app.org_id', :org_id, true), set_config('app.user_id', :user_id, true), "
        "set_config('app.scope', :scope, true)"
    )
)


def admin_url(settings: Settings) -> URL:
    """The owner/admin URL: DATABASE_URL, or the embedded server when none is configured."""
    raw = (
        settings.database_url.get_secret_value()
        if settings.database_url
        else embedded_database_url(settings.data_dir)
    )
    return _with_driver(make_url(raw))


def _with_driver(url: URL) -> URL:
    return url.set(drivername="postgresql+psycopg")


OWNER_ROLE = "keel_owner"  # owns the schema; migrations only
APP_ROLE = "keel_app"  # every request and job
PLATFORM_ROLE = "keel_platform"  # the audited platform path
DEFINER_ROLE = "keel_definer"  # owns the allowlisted SECURITY DEFINER functions


def role_url(settings: Settings, role: str) -> URL:
    """The URL of a runtime role: an explicit setting, else the admin URL with the role's name."""
    explicit, password = {
        APP_ROLE: (settings.app_database_url, settings.app_db_password),
        PLATFORM_ROLE: (settings.platform_database_url, settings.platform_db_password),
    }[role]
    if explicit is not None:
        return _with_driver(make_url(explicit.get_secret_value()))
    return admin_url(settings).set(username=role, password=password.get_secret_value() if password else None)


def libpq_url(url: URL) -> str:
    """A plain libpq connection string (for procrastinate's pool and command-line tools)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass(frozen=True)
class Database:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    @classmethod
    def connect(
        cls, url: URL, *, pool_size: int, max_overflow: int, name: str, pool_timeout: float = 10.0
    ) -> Database:
        engine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            pool_pre_ping=False,
            pool_recycle=1800,
            connect_args={"application_name": name},
        )
        return cls(engine, async_sessionmaker(engine, expire_on_commit=False, autoflush=False))

    async def dispose(self) -> None:
        await self.engine.dispose()


async def set_tenant_context(
    session: AsyncSession, org_id: UUID | None, user_id: UUID | None = None, scope: str | None = None
) -> None:
    """Bind the transaction to one organisation (and user). Transaction-local: never outlives it.

    `scope` is which owned records the transaction sees (`keel.core.rls.visible_to_scope`): without
    a user it is every record of the organisation, with one only that user's unless said otherwise.
    """
    scope = scope or ("own" if user_id else "all")
    await rows(  # every request sets it: on the driver's connection, without the ORM's execution path
        session,
        SET_CONTEXT,
        {"org_id": str(org_id) if org_id else "", "user_id": str(user_id) if user_id else "", "scope": scope},
    )


@lru_cache
def runtime_database() -> Database:
    """The pool every request and job uses: the non-owner role bound by RLS."""
    settings = get_settings()
    return Database.connect(
        role_url(settings, APP_ROLE),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        name="keel-app",
        pool_timeout=settings.db_pool_timeout_seconds,
    )


@lru_cache
def platform_database() -> Database:
    """The platform pool. Reached only through `keel.core.platform`, never by a tenant request."""
    settings = get_settings()
    return Database.connect(
        role_url(settings, PLATFORM_ROLE), pool_size=2, max_overflow=2, name="keel-platform"
    )
