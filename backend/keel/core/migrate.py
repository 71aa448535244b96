"""`keel migrate`: create the roles and schemas when missing, then run Alembic as the owner."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, create_engine, pool, text
from sqlalchemy.engine import URL

from keel.core.config import Settings
from keel.core.db import APP_ROLE, DEFINER_ROLE, OWNER_ROLE, PLATFORM_ROLE, admin_url

BACKEND_DIR = Path(__file__).resolve().parents[2]

RUNTIME_LOCK_TIMEOUT = "10s"

ROLES = {
    OWNER_ROLE: "NOLOGIN NOBYPASSRLS",
    DEFINER_ROLE: "NOLOGIN BYPASSRLS",
    APP_ROLE: "LOGIN NOBYPASSRLS NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION",
    PLATFORM_ROLE: "LOGIN NOBYPASSRLS NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION",
}


def _ensure_roles(conn: Connection, settings: Settings) -> None:
    for role, attributes in ROLES.items():
        exists = conn.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
        if not exists:
            conn.exec_driver_sql(f"CREATE ROLE {role} {attributes}")
    for role, secret in (
        (APP_ROLE, settings.app_db_password),
        (PLATFORM_ROLE, settings.platform_db_password),
    ):
        if secret is not None:
            conn.execute(text(f"ALTER ROLE {role} PASSWORD :p"), {"p": secret.get_secret_value()})
        conn.exec_driver_sql(f"ALTER ROLE {role} SET search_path = keel, procrastinate")
        # A request never waits on a lock for long, nor holds a transaction open while idle.
        conn.exec_driver_sql(f"ALTER ROLE {role} SET lock_timeout = '{RUNTIME_LOCK_TIMEOUT}'")
        conn.exec_driver_sql(f"ALTER ROLE {role} SET idle_in_transaction_session_timeout = '60s'")
    # The migrating admin acts as the owner; the owner hands definer functions to keel_definer.
    if not conn.scalar(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")):
        conn.exec_driver_sql(f"GRANT {OWNER_ROLE} TO current_user")
    conn.exec_driver_sql(f"GRANT {DEFINER_ROLE} TO {OWNER_ROLE}")


def _ensure_schemas(conn: Connection) -> None:
    database = conn.scalar(text("SELECT current_database()"))
    conn.exec_driver_sql(f'GRANT CONNECT, TEMPORARY ON DATABASE "{database}" TO {APP_ROLE}, {PLATFORM_ROLE}')
    conn.exec_driver_sql(f'REVOKE CREATE ON DATABASE "{database}" FROM PUBLIC')
    conn.exec_driver_sql(f'GRANT CREATE ON DATABASE "{database}" TO {OWNER_ROLE}')
    for schema in ("keel", "procrastinate"):
        conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {OWNER_ROLE}")
    conn.exec_driver_sql("REVOKE CREATE ON SCHEMA public FROM PUBLIC")


def alembic_config(url: URL) -> Config:
    config = Config(str(BACKEND_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(BACKEND_DIR / "migrations"))
    config.attributes["url"] = url
    return config


def migrate(settings: Settings, revision: str = "head", url: URL | None = None) -> None:
    url = url or admin_url(settings)
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.begin() as conn:
        # Roles are cluster-wide; serialise concurrent `keel migrate` runs against one server.
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7265101)")
        _ensure_roles(conn, settings)
        _ensure_schemas(conn)
    engine.dispose()
    command.upgrade(alembic_config(url), revision)
