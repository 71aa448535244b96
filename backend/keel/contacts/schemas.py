from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from keel.core.fields import Country, CustomValues, ExternalId, Tag, Text100
from keel.identity.users import EMAIL


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
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "first_name": "Ada",
                    "last_name": "Lovelace",
                    "title": "CTO",
                    "email": "ada@acme.de",
                    "phone": "+49 30 1234567",
                    "account_ids": ["3fa85f64-5717-4562-b3fc-2c963f66afa6"],
                    "primary_account_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
                    "tags": ["decision-maker"],
                }
            ]
        },
    )

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
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"title": "CEO", "phone": "+49 30 7654321"}]}
    )

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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
                    "first_name": "Ada",
                    "last_name": "Lovelace",
                    "title": "CTO",
                    "email": "ada@acme.de",
                    "phone": "+49301234567",
                    "owner_id": "1d2e3f40-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
                    "assignee_id": "8a7b6c5d-4e3f-4a2b-9c1d-0e9f8a7b6c5d",
                    "tags": ["decision-maker"],
                    "custom": {},
                    "external_id": "HS-88213",
                    "account_ids": ["3fa85f64-5717-4562-b3fc-2c963f66afa6"],
                    "primary_account_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
                    "assignment_rule_id": "2c4e6a8b-0d1f-4e3a-8b5c-7d9e1f3a5b7c",
                    "version": 1,
                    "created_at": "2026-11-02T09:35:00Z",
                    "updated_at": "2026-11-02T09:35:00Z",
                }
            ]
        }
    )

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
