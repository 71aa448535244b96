from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from keel.accounts.schemas import Country, Tag, Text100
from keel.customfields.schemas import CustomValues, ExternalId
from keel.identity.accounts import EMAIL


def _email(value: str) -> str:
    address = value.strip().lower()
    if not EMAIL.match(address):
        raise ValueError("must be an e-mail address such as ada@example.com")
    return address


Email = Annotated[str, Field(max_length=254), AfterValidator(_email)]
Phone = Annotated[str, Field(min_length=3, max_length=40, pattern=r"^[0-9+()./ -]+$")]
PersonName = Annotated[str, Field(max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$")]


class AccountLinks(BaseModel):
    """The accounts a contact belongs to; the primary one must be among them."""

    account_ids: list[UUID] | None = Field(default=None, max_length=50)
    primary_account_id: UUID | None = None

    @model_validator(mode="after")
    def _primary_is_linked(self) -> AccountLinks:
        if self.primary_account_id is not None and self.primary_account_id not in (self.account_ids or []):
            raise ValueError("primary_account_id must be one of account_ids")
        return self


class ContactCreate(AccountLinks):
    model_config = ConfigDict(extra="forbid")

    first_name: PersonName = ""
    last_name: Annotated[PersonName, Field(min_length=1)]
    title: Text100 | None = None
    email: Email | None = None
    phone: Phone | None = Field(
        default=None, description="International (+49 30 123456), or national with country"
    )
    country: Country | None = Field(default=None, description="Reads a national phone number")
    owner_id: UUID | None = Field(default=None, description="A member; defaults to the caller")
    assignee_id: UUID | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    custom: CustomValues = Field(default_factory=dict, description="Custom field values, by key")
    external_id: ExternalId | None = None


class ContactPatch(AccountLinks):
    model_config = ConfigDict(extra="forbid")

    first_name: PersonName | None = None
    last_name: Annotated[PersonName, Field(min_length=1)] | None = None
    title: Text100 | None = None
    email: Email | None = None
    phone: Phone | None = None
    country: Country | None = None
    owner_id: UUID | None = None
    assignee_id: UUID | None = None
    tags: list[Tag] | None = Field(default=None, max_length=20)
    custom: CustomValues | None = Field(default=None, description="Changes these values; null removes one")
    external_id: ExternalId | None = None


class ContactFilter(BaseModel):
    custom: dict[str, str] = Field(default_factory=dict)
    owner_id: UUID | None = None
    account_id: UUID | None = None
    email: str | None = None
    tag: str | None = None


class ContactOut(BaseModel):
    id: UUID
    first_name: str
    last_name: str
    title: str | None
    email: str | None
    phone: str | None
    owner_id: UUID
    assignee_id: UUID | None
    tags: list[str]
    custom: dict[str, Any]
    external_id: str | None = Field(description="Its id in the system it came from; unique here")
    account_ids: list[UUID]
    primary_account_id: UUID | None
    assignment_rule_id: UUID | None = Field(
        description="The assignment rule that chose the owner, if one did"
    )
    version: int
    created_at: datetime
    updated_at: datetime
