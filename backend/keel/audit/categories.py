"""Audit categories: each keeps its rows for its own number of months (`KEEL_AUDIT_RETENTION_MONTHS`) and
has its own hash chain per organisation. An action's category is decided by its first word."""

from __future__ import annotations

CATEGORIES = ("money", "security", "access", "general")

_BY_SUBJECT = {
    # money: what an accountant or tax office may ask about years later
    "invoice": "money",
    "payment": "money",
    "refund": "money",
    "receipt": "money",
    "reconciliation": "money",
    "payout": "money",
    # security: who may do what, and how they signed in
    "token": "security",
    "api_key": "security",
    "role": "security",
    "team": "security",
    "member": "security",
    "invitation": "security",
    "organization": "security",
    "profile": "security",
    # access: reads and exports of data
    "audit": "access",
    "compliance_export": "access",
    "report": "access",
    "crm_export": "access",
}


def category_of(action: str) -> str:
    return _BY_SUBJECT.get(action.split(".", 1)[0], "general")
