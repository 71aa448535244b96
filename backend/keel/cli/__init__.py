"""`keel`: one module per command group; this file only assembles them."""

from __future__ import annotations

import typer

from keel.cli import audit, dev, imports, jobs, platform, reference, server

app = typer.Typer(help="Keel: multi-tenant CRM + ERP.", no_args_is_help=True)
app.command("dev")(dev.dev)
app.command("migrate")(server.migrate)
app.command("seed")(server.seed)
app.command("serve")(server.serve)
app.command("worker")(server.worker)
app.command("import")(imports.import_csv)
app.command("permissions")(reference.permissions)
app.command("openapi")(reference.openapi)
app.add_typer(platform.orgs, name="orgs")
app.add_typer(platform.users, name="users")
app.add_typer(platform.keys, name="keys")
app.add_typer(audit.audit, name="audit")
app.add_typer(jobs.jobs, name="jobs")
