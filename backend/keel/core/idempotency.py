"""`Idempotency-Key` for POST: the same key and body replay the first answer; a new body is refused.

The key row is inserted in the request's own transaction before the handler runs. A concurrent
duplicate blocks on the primary key until the first request finishes: if it committed, the duplicate
replays its stored response; if it rolled back, the duplicate runs. Either way the work runs once.
Failed requests (status ≥ 400) roll back and leave no key, so the client may simply retry.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response
from sqlalchemy import BindParameter, bindparam, func, text, update
from sqlalchemy.dialects.postgresql import insert

from keel.core.config import get_settings
from keel.core.errors import Problem
from keel.core.openapi import HeaderDeclaration, declare_header
from keel.core.principal import CurrentPrincipal
from keel.core.statements import fixed, rows
from keel.core.uow import ReplayResponse, UnitOfWork, UoW
from keel.models import IdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEPT_HEADERS = ("content-type", "location", "etag")

declare_header(
    HEADER,
    HeaderDeclaration(
        answers={
            400: f"The {HEADER} is empty or not printable",
            408: "The body did not arrive within the read timeout",  # it is read to fingerprint the request
            409: f"A request with this {HEADER} is still in progress",
            422: f"The {HEADER} was already used with a different request",
        },
        success_headers={
            REPLAYED_HEADER: {
                "description": f"`true` when this is the stored response of an earlier request with the "
                f"same {HEADER}",
                "required": False,
                "schema": {"type": "string", "enum": ["true"]},
            }
        },
    ),
)


async def _fingerprint(request: Request) -> bytes:
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(b"\0" + request.url.path.encode() + b"\0" + request.url.query.encode() + b"\0")
    digest.update(await request.body())
    return digest.digest()


def _param(name: str, column: Any) -> BindParameter[Any]:
    return bindparam(name, type_=column.type)


_ORG, _KEY = _param("p_org", IdempotencyKey.org_id), _param("p_key", IdempotencyKey.key)
_FINGERPRINT = _param("p_fingerprint", IdempotencyKey.fingerprint)
# Both statements are built once: only their values change per request.
_CLAIM = fixed(
    insert(IdempotencyKey)
    .values(org_id=_ORG, key=_KEY, fingerprint=_FINGERPRINT)
    .on_conflict_do_update(
        index_elements=[IdempotencyKey.org_id, IdempotencyKey.key],
        set_={
            "fingerprint": _FINGERPRINT,
            "status_code": None,
            "response_body": None,
            "response_headers": None,
            "created_at": func.now(),
        },
        where=IdempotencyKey.created_at < _param("p_expired", IdempotencyKey.created_at),
    )
    .returning(IdempotencyKey.key)
)
_STORE = fixed(
    update(IdempotencyKey)
    .where(IdempotencyKey.org_id == _ORG, IdempotencyKey.key == _KEY)
    .values(
        status_code=_param("p_status", IdempotencyKey.status_code),
        response_body=_param("p_body", IdempotencyKey.response_body),
        response_headers=_param("p_headers", IdempotencyKey.response_headers),
    )
)


async def claim_idempotency_key(request: Request, uow: UnitOfWork) -> None:
    key = request.headers.get(HEADER)
    if key is None:
        return
    if not 1 <= len(key) <= 255 or not key.isprintable():
        raise Problem(400, f"{HEADER} must be 1 to 255 printable characters.")
    org_id = uow.tenant
    fingerprint = await _fingerprint(request)
    ttl = timedelta(hours=get_settings().idempotency_ttl_hours)
    session = uow.session

    # Claim the key; a row older than the window is expired, and is claimed afresh in the same statement.
    # On the driver's connection (keel.core.statements): every creating request makes both statements.
    claimed = await rows(
        session,
        _CLAIM,
        {"p_org": org_id, "p_key": key, "p_fingerprint": fingerprint, "p_expired": datetime.now(UTC) - ttl},
    )
    if not claimed:
        stored = await session.get(IdempotencyKey, (org_id, key), populate_existing=True)
        if stored is None or stored.status_code is None:
            # Unreachable while the key row and the work commit together; refuse rather than run twice.
            raise Problem(409, "A request with this Idempotency-Key is still in progress.")
        if stored.fingerprint != fingerprint:
            raise Problem(
                422,
                f"This {HEADER} was already used with a different request. Use a new key.",
                title="Idempotency key reused",
            )
        headers = dict(stored.response_headers or {})
        headers[REPLAYED_HEADER] = "true"
        raise ReplayResponse(
            Response(content=stored.response_body, status_code=stored.status_code, headers=headers)
        )

    async def store(response: Response) -> None:
        kept = {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}
        body = uow.replay_body if uow.replay_body is not None else bytes(response.body)
        await rows(
            session,
            _STORE,
            {
                "p_org": org_id,
                "p_key": key,
                "p_status": response.status_code,
                "p_body": body,
                "p_headers": json.loads(json.dumps(kept)),
            },
        )

    uow.before_commit(store)


async def purge_expired(uow: UnitOfWork, older_than: timedelta) -> int:
    """Delete expired keys across all organisations (through the audited definer function)."""
    removed = await uow.session.scalar(
        text("SELECT keel.purge_expired_idempotency_keys(:age)"), {"age": older_than}
    )
    return int(removed or 0)


async def idempotent(
    request: Request,
    principal: CurrentPrincipal,  # authenticated first: keys are kept per organisation
    uow: UoW,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=HEADER,
            max_length=255,
            description="Retry safely: the same key and body replay the first response for 24 h "
            "(1 to 255 printable characters).",
        ),
    ] = None,
) -> None:
    await claim_idempotency_key(request, uow)


Idempotent = Annotated[None, Depends(idempotent)]
