"""Outgoing e-mail: queued in the sender's transaction, delivered by a job over SMTP.

Messages often carry secrets (a password-reset link), so the job's arguments hold the message sealed
with the key ring, never in clear. Without a configured SMTP server, `keel dev` runs a local one that
keeps every message in a dev inbox under the data directory.
"""

from __future__ import annotations

import json
from email.message import EmailMessage

import aiosmtplib
import procrastinate

from keel.core.config import get_settings
from keel.core.jobs import enqueue, job_app
from keel.core.keyring import get_key_ring
from keel.core.uow import UnitOfWork

QUEUE = "mail"


class MailNotConfigured(RuntimeError):
    pass


async def queue_email(uow: UnitOfWork, to: str, subject: str, body: str) -> None:
    """Send `body` (plain text) to `to` once the unit of work commits; never if it rolls back."""
    sealed = get_key_ring().encrypt(json.dumps({"to": to, "subject": subject, "body": body}).encode())
    await enqueue(uow, deliver_email, sealed=sealed)


@job_app.task(
    name="mail.deliver",
    queue=QUEUE,
    retry=procrastinate.RetryStrategy(max_attempts=8, exponential_wait=5),
)
async def deliver_email(*, sealed: str, org_id: str | None = None) -> None:
    settings = get_settings()
    if not settings.smtp_host:
        raise MailNotConfigured("KEEL_SMTP_HOST is not set: no server to deliver mail to")
    content = json.loads(get_key_ring().decrypt(sealed))
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = content["to"]
    message["Subject"] = content["subject"]
    message.set_content(content["body"])
    await aiosmtplib.send(
        message,
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        start_tls=settings.smtp_starttls,
        timeout=30,
    )
