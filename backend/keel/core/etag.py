"""Optimistic concurrency: an ETag from a row's version column, and If-Match on every update."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header

from keel.core.errors import Problem, Responses
from keel.core.openapi import HeaderDeclaration, declare_header

IF_MATCH = "If-Match"
_IF_MATCH_MAX = 64
ETAG_HEADER: dict[str, Any] = {
    "description": "The resource's version; send it back in If-Match to update the resource",
    "required": True,
    "schema": {"type": "string", "pattern": '^"[0-9]+"$'},
}

# Read as optional so a missing one answers 428 rather than 422; documented as required below.
IfMatch = Annotated[str | None, Header(alias=IF_MATCH, max_length=_IF_MATCH_MAX, include_in_schema=False)]

declare_header(
    IF_MATCH,
    HeaderDeclaration(
        answers={
            412: "If-Match does not name the current version: fetch the resource again, reapply the change",
            428: "If-Match is missing",
        },
        parameter={
            "name": IF_MATCH,
            "in": "header",
            "required": True,
            "description": 'The ETag last read, e.g. `"3"` (or `W/"3"`); a stale one answers 412.',
            "schema": {"type": "string", "maxLength": _IF_MATCH_MAX},
        },
        success_headers={"ETag": ETAG_HEADER},
    ),
)


def sends_etag(status: int = 200) -> Responses:
    """For `responses=`: the route's success response carries the resource's ETag."""
    return {status: {"headers": {"ETag": ETAG_HEADER}}}


def etag(version: int) -> str:
    return f'"{version}"'


def required_version(header: str | None) -> int:
    """The version the client last saw, from If-Match. Missing → 428; unparseable → 412."""
    if header is None:
        raise Problem(
            428,
            "Send If-Match with the ETag you last read, so a concurrent change is not overwritten.",
        )
    tag = header.strip()
    if tag.startswith("W/"):
        tag = tag[2:]
    if not (len(tag) >= 3 and tag[0] == tag[-1] == '"' and tag[1:-1].isdigit()):
        raise stale()
    return int(tag[1:-1])


def stale() -> Problem:
    return Problem(
        412,
        "The resource changed since you read it. Fetch it again and reapply your change.",
        title="Precondition Failed",
    )
