"""`keel permissions` and `keel openapi`: the documents generated from the code."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from keel.access.permissions import permissions_markdown
from keel.cli.common import console
from keel.main import create_app


def permissions() -> None:
    """Print the role → permission matrix as Markdown (docs/security/permissions.md)."""
    sys.stdout.write(permissions_markdown())


def openapi(output: Annotated[Path, typer.Option()] = Path("openapi.json")) -> None:
    """Write the OpenAPI document (committed; a test fails when it drifts)."""
    document = create_app().openapi()
    output.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    console.print(f"wrote {output}")
