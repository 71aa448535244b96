"""Security events of user accounts, outside any organisation's audit trail: sign-ins accepted and
refused, second factors, passwords and e-mail changes. Appended through a definer function (the
runtime role cannot write the table) in the transaction of what they record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from keel.audit import repository
from keel.audit.service import ChainBreak, chain_breaks
from keel.core.uow import UnitOfWork


async def record_security_event(
    uow: UnitOfWork,
    action: str,
    *,
    user_id: UUID | None = None,
    email: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Append `action` for the account `user_id` (or, when no account matched, the address tried)."""
    await repository.append_security_event(
        uow.session,
        action,
        user_id=user_id,
        email=email if user_id is None else None,
        ip=uow.client_ip,
        user_agent=uow.user_agent,
        request_id=uow.request_id,
        detail=detail,
    )


async def verify_security_chains(uow: UnitOfWork) -> tuple[int, list[tuple[str, ChainBreak]]]:
    """Every account's chain (the platform role reads them all): (rows checked, (subject, break) pairs)."""
    rows = await repository.security_chain_links(uow.session)
    by_subject: dict[str, list[Any]] = {}
    for row in rows:
        by_subject.setdefault(row.subject, []).append(row)
    breaks = [(subject, b) for subject, chain in by_subject.items() for b in chain_breaks(chain)]
    return len(rows), breaks
