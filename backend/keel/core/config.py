"""Settings read from the environment (and `.env`), typed and validated once at start-up."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[3]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KEEL_", env_file=".env", extra="ignore")

    env: Literal["dev", "test", "prod"] = "dev"

    # The owner/admin connection: used by `keel migrate` (creates roles, runs Alembic as the owner).
    # Not set -> an embedded PostgreSQL under `data_dir`.
    database_url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "KEEL_DATABASE_URL")
    )
    # Runtime connections; derived from database_url with the role names below when not set.
    app_database_url: SecretStr | None = None
    platform_database_url: SecretStr | None = None
    app_db_password: SecretStr | None = None
    platform_db_password: SecretStr | None = None
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=200)
    # How long a request waits for a free connection before it is answered 503 (the pool is full).
    db_pool_timeout_seconds: float = Field(default=10.0, gt=0, le=300)

    # Fernet keys, newest first, comma-separated; generated under data_dir outside production.
    encryption_keys: SecretStr | None = None

    redis_url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "KEEL_REDIS_URL")
    )
    # Connections to Redis per process; a request waits this long for one before it is answered 503.
    redis_max_connections: int = Field(default=64, ge=1, le=10_000)
    redis_pool_timeout_seconds: float = Field(default=5.0, gt=0, le=300)

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    web_port: int = Field(default=3000, ge=1, le=65535)
    # The local SMTP server `keel dev` starts when no SMTP host is configured.
    dev_smtp_port: int = Field(default=8025, ge=1, le=65535)
    api_workers: int = Field(default=1, ge=1, le=64)

    log_format: Literal["json", "console"] | None = None
    log_level: str = "INFO"

    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # CSV imports arrive as base64 in JSON: a 50 MB file is about 67 MB.
    max_import_body_bytes: int = Field(default=70 * 1_048_576, ge=1024)
    body_timeout_seconds: float = Field(default=30.0, gt=0)  # the whole body, or 408
    rate_limit: str = "1200/minute"  # per organisation, when its plan has no limit of its own
    # Per organisation, by plan (`keel orgs plan SLUG PLAN`), e.g. {"standard": "1200/minute"}.
    plan_rate_limits: dict[str, str] = Field(
        default_factory=lambda: {"standard": "1200/minute", "enterprise": "6000/minute"}
    )
    rate_limit_user: str = "600/minute"  # per user, across their clients
    # Months each audit category is kept before `keel audit maintain` detaches it (keel/core/audit_trail.py).
    audit_retention_months: dict[str, int] = Field(
        default_factory=lambda: {"money": 84, "security": 36, "access": 13, "general": 84}
    )
    # Per client address, on what attackers hammer: sign-in and reset forms, and the token endpoint.
    rate_limit_sign_in: str = "30/minute"
    rate_limit_export: str = "10/minute"  # per organisation: exports are heavy and sensitive
    rate_limit_token: str = "120/minute"  # noqa: S105 - a limit, not a secret
    idempotency_ttl_hours: int = Field(default=24, ge=1)

    worker_concurrency: int = Field(default=4, ge=1, le=64)
    worker_heartbeat_seconds: float = Field(default=5.0, gt=0)
    worker_stalled_after_seconds: float = Field(default=30.0, gt=0)

    data_dir: Path = REPO_ROOT / ".keel"

    # Where users and clients reach Keel: the issuer of its tokens and the base of e-mailed links.
    public_url: str = "http://127.0.0.1:8000"
    login_session_hours: int = Field(default=12, ge=1, le=24 * 30)
    refresh_token_days: int = Field(default=30, ge=1, le=365)  # a family's absolute lifetime
    # Ask DPoP clients for a server nonce in every proof (RFC 9449 §8): limits pre-generated proofs.
    dpop_nonce_required: bool = False
    reauth_minutes: int = Field(default=10, ge=1, le=60)  # how recent a sign-in must be for sensitive changes

    # Outgoing mail. No host: development writes to the local inbox under data_dir.
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    mail_from: str = "Keel <no-reply@keel.localhost>"

    @property
    def issuer(self) -> str:
        return self.public_url.rstrip("/")

    @property
    def api_audience(self) -> str:
        return self.issuer + "/api"

    @property
    def effective_log_format(self) -> Literal["json", "console"]:
        if self.log_format:
            return self.log_format
        return "json" if self.env == "prod" else "console"


@lru_cache
def get_settings() -> Settings:
    return Settings()
