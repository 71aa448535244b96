"""Optimistic concurrency: an ETag from a row's version column, and If-Match on every update."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header

from keel.core.errors import Problem

IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", max_length=64, description="The ETag last read; required to update."),
]


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
