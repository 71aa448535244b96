"""For the reads whose JSON PostgreSQL writes: each record sent must be exactly what the response model
makes of the same row through the ORM, key for key (in the model's order), value for value and written
the same (a timestamp's text included)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from keel.core.db import runtime_database
from keel.core.uow import UnitOfWork

# The model of one row, as the ORM path builds it, read in the organisation's context.
ModelOf = Callable[[UnitOfWork, UUID], Awaitable[BaseModel]]


async def assert_sent_as_the_model(org_id: UUID, sent: list[dict[str, Any]], model_of: ModelOf) -> None:
    assert sent, "nothing to compare"
    async with runtime_database().sessions() as session:
        uow = UnitOfWork(session)
        await uow.enter_tenant(org_id)
        for item in sent:
            expected = await model_of(uow, UUID(item["id"]))
            model = type(expected)
            assert list(item) == list(model.model_fields), item  # the same keys, in the model's order
            assert model.model_validate(item) == expected, item  # the same values
            assert item == expected.model_dump(mode="json"), item  # written the same, timestamps too
