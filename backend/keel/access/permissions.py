"""The permission catalogue and the role → permission matrix: defined here once.

`docs/security/permissions.md` is generated from this module (`keel permissions`) and a test fails when
the two differ. Later domains add their permissions here and grant them in `ROLE_PERMISSIONS`.
"""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    ORGANIZATION_READ = "organization:read"
    ORGANIZATION_UPDATE = "organization:update"
    MEMBERS_READ = "members:read"
    MEMBERS_MANAGE = "members:manage"
    ROLES_MANAGE = "roles:manage"
    TEAMS_MANAGE = "teams:manage"
    API_KEYS_READ = "api_keys:read"
    API_KEYS_MANAGE = "api_keys:manage"
    AUDIT_READ = "audit:read"
    AUDIT_EXPORT = "audit:export"
    COMPLIANCE_EXPORT = "compliance:export"
    PROFILE_OWN = "profile:own"
    ACCOUNTS_READ = "accounts:read"
    ACCOUNTS_MANAGE = "accounts:manage"
    CONTACTS_READ = "contacts:read"
    CONTACTS_MANAGE = "contacts:manage"
    PIPELINES_READ = "pipelines:read"
    PIPELINES_MANAGE = "pipelines:manage"
    DEALS_READ = "deals:read"
    DEALS_MANAGE = "deals:manage"
    DEAL_AMOUNTS_READ = "deal_amounts:read"
    LEADS_READ = "leads:read"
    LEADS_MANAGE = "leads:manage"
    TICKETS_READ = "tickets:read"
    TICKETS_MANAGE = "tickets:manage"
    ACTIVITIES_READ = "activities:read"
    ACTIVITIES_MANAGE = "activities:manage"
    ASSIGNMENT_RULES_READ = "assignment_rules:read"
    ASSIGNMENT_RULES_MANAGE = "assignment_rules:manage"
    CUSTOM_FIELDS_READ = "custom_fields:read"
    CUSTOM_FIELDS_MANAGE = "custom_fields:manage"
    SEARCH_USE = "search:use"
    SAVED_VIEWS_USE = "saved_views:use"
    IMPORTS_MANAGE = "imports:manage"


DESCRIPTIONS: dict[Permission, str] = {
    Permission.ORGANIZATION_READ: "Read the organisation's profile and settings",
    Permission.ORGANIZATION_UPDATE: "Change the organisation's profile and settings (MFA requirement too)",
    Permission.MEMBERS_READ: "List members, their roles, the organisation's roles and teams",
    Permission.MEMBERS_MANAGE: "Invite, remove and change members, reset a member's MFA",
    Permission.ROLES_MANAGE: "Create, change and delete the organisation's own roles",
    Permission.TEAMS_MANAGE: "Create, rename and delete teams, and choose their members",
    Permission.API_KEYS_READ: "List the organisation's API keys (never their secrets)",
    Permission.API_KEYS_MANAGE: "Issue and revoke API keys",
    Permission.AUDIT_READ: "Read the audit trail",
    Permission.AUDIT_EXPORT: "Export the audit trail (CSV or JSON); each export is itself audited",
    Permission.COMPLIANCE_EXPORT: "Build and download compliance exports (audit trail, members, matrix)",
    Permission.PROFILE_OWN: "Read and change one's own profile",
    Permission.ACCOUNTS_READ: "Read accounts (companies), within the role's record scope",
    Permission.ACCOUNTS_MANAGE: "Create, change and delete accounts, within the role's record scope",
    Permission.CONTACTS_READ: "Read contacts (people), within the role's record scope",
    Permission.CONTACTS_MANAGE: "Create, change and delete contacts, within the role's record scope",
    Permission.PIPELINES_READ: "Read the sales pipelines and their stages",
    Permission.PIPELINES_MANAGE: "Create, rename and delete pipelines, and set their stages",
    Permission.DEALS_READ: "Read deals and their stage history, within the role's record scope",
    Permission.DEALS_MANAGE: "Create, change, move and delete deals, within the role's record scope",
    Permission.DEAL_AMOUNTS_READ: "See deal amounts (without it a deal's amount and currency are hidden)",
    Permission.LEADS_READ: "Read leads, within the role's record scope",
    Permission.LEADS_MANAGE: "Create, change, disqualify and delete leads; convert them (with the rights "
    "to create accounts, contacts and deals)",
    Permission.TICKETS_READ: "Read support tickets: within the role's record scope, and those of accounts "
    "the member sees",
    Permission.TICKETS_MANAGE: "Open, change, solve, close and delete support tickets",
    Permission.ACTIVITIES_READ: "Read notes, calls, e-mails, meetings and tasks: one's own and those on "
    "records the member sees",
    Permission.ACTIVITIES_MANAGE: "Log activities and set tasks on records the member sees; change and "
    "delete them within the role's record scope",
    Permission.ASSIGNMENT_RULES_READ: "Read the rules that choose the owner of new records",
    Permission.ASSIGNMENT_RULES_MANAGE: "Create, reorder, switch off and delete assignment rules",
    Permission.CUSTOM_FIELDS_READ: "Read the organisation's custom field definitions",
    Permission.CUSTOM_FIELDS_MANAGE: "Define, rename and delete custom fields (deleting clears their values)",
    Permission.SEARCH_USE: "Search accounts, contacts and deals (those the role reads, within its scope)",
    Permission.SAVED_VIEWS_USE: "Save list filters as views, share them, and use the views others share",
    Permission.IMPORTS_MANAGE: "Import accounts, contacts and deals from CSV (for the whole organisation), "
    "follow imports and roll them back",
}

# Permissions that shape what a route shows rather than whether it may be called.
FIELD_PERMISSIONS = frozenset({Permission.DEAL_AMOUNTS_READ})

ROLES: dict[str, str] = {
    "org_admin": "Org Admin",
    "manager": "Manager",
    "sales_rep": "Sales Rep",
    "finance": "Finance",
    "support": "Support",
}

# What every member holds, whatever their role (custom roles included).
EVERYONE = frozenset({Permission.ORGANIZATION_READ, Permission.PROFILE_OWN})

_CRM_READ = frozenset(
    {
        Permission.ACCOUNTS_READ,
        Permission.CONTACTS_READ,
        Permission.PIPELINES_READ,
        Permission.DEALS_READ,
        Permission.TICKETS_READ,
        Permission.ACTIVITIES_READ,
        Permission.CUSTOM_FIELDS_READ,
        Permission.SEARCH_USE,
        Permission.SAVED_VIEWS_USE,
    }
)
_CRM_WORK = _CRM_READ | {
    Permission.LEADS_READ,
    Permission.LEADS_MANAGE,
    Permission.ACCOUNTS_MANAGE,
    Permission.CONTACTS_MANAGE,
    Permission.DEALS_MANAGE,
    Permission.DEAL_AMOUNTS_READ,
    Permission.ACTIVITIES_MANAGE,
}

ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "org_admin": frozenset(Permission),
    "manager": EVERYONE
    | _CRM_WORK
    | {
        Permission.MEMBERS_READ,
        Permission.AUDIT_READ,
        Permission.PIPELINES_MANAGE,
        Permission.ASSIGNMENT_RULES_READ,
    },
    "sales_rep": EVERYONE | _CRM_WORK,
    # Finance reads deals and their amounts but changes none.
    "finance": EVERYONE | _CRM_READ | {Permission.AUDIT_READ, Permission.DEAL_AMOUNTS_READ},
    # Support keeps people's details current and sees deals, not what they are worth.
    "support": EVERYONE
    | _CRM_READ
    | {Permission.CONTACTS_MANAGE, Permission.TICKETS_MANAGE, Permission.ACTIVITIES_MANAGE},
}

RECORD_SCOPES = {
    "own": "the records they own or are assigned",
    "team": "the records owned by or assigned to anyone in their teams",
    "all": "every record of the organisation",
}

# Which owned records (accounts, deals, …) a role sees: enforced by the database (`owned_table`).
ROLE_SCOPES: dict[str, str] = {
    "org_admin": "all",
    "manager": "team",
    "sales_rep": "own",
    "finance": "all",
    "support": "all",
}

# An API key acts for its whole organisation (ADR 0005): what an Org Admin may do, except what only a
# person has (a profile).
API_KEY_PERMISSIONS: frozenset[Permission] = frozenset(Permission) - {Permission.PROFILE_OWN}


def permissions_markdown() -> str:
    """The matrix as the Markdown page `docs/security/permissions.md`."""
    header = "| Permission | What it allows | " + " | ".join(ROLES.values()) + " | API key |"
    rule = "| --- | --- | " + " | ".join("---" for _ in ROLES) + " | --- |"
    rows = []
    for permission in Permission:
        marks = ["✓" if permission in ROLE_PERMISSIONS[role] else "" for role in ROLES]
        api_key = "✓" if permission in API_KEY_PERMISSIONS else ""
        rows.append(
            f"| `{permission.value}` | {DESCRIPTIONS[permission]} | " + " | ".join(marks) + f" | {api_key} |"
        )
    scopes = "| Records seen | | " + " | ".join(ROLE_SCOPES[role] for role in ROLES) + " | all |"
    return "\n".join(
        [
            "# Permissions",
            "",
            "Generated from `backend/keel/access/permissions.py` by",
            "`keel permissions > docs/security/permissions.md`; a test fails when this page and the code",
            "differ. Super Admins run the platform through the audited `keel` commands and hold no",
            "permission on any organisation's data.",
            "",
            header,
            rule,
            *rows,
            scopes,
            "",
            "Records seen: `own` is the records a member owns or is assigned, `team` adds those of",
            "everyone who shares a team with them, `all` is every record of the organisation. The",
            "database enforces it (row-level security), whatever path reads the records.",
            "",
            "An Org Admin can add the organisation's own roles (`/api/v1/roles`): any set of these",
            "permissions and a record scope. Every role includes "
            + " and ".join(f"`{p.value}`" for p in sorted(EVERYONE))
            + ".",
            "",
        ]
    )
