"""What an API key may be allowed to do.

Each guarded route declares one of these (or that it needs an interactive
sign-in) next to its guard, `@auth_required(scope=...)`; a key reaches the
routes of the scopes it was given, and no others.
"""

from __future__ import annotations

ACCOUNT_READ = "account:read"
FILES_READ = "files:read"
FILES_WRITE = "files:write"
ADMIN_READ = "admin:read"
ADMIN_WRITE = "admin:write"

# scope: what it reaches, for the OpenAPI document, the README and the web app.
SCOPES = {
    ACCOUNT_READ: "Read the key owner's account (GET /users/me).",
    FILES_READ: "List the owner's files, read their metadata and contents, and the storage used.",
    FILES_WRITE: "Upload and delete the owner's files.",
    ADMIN_READ: "Administration reads: users, roles, the audit trail. Needs the admin role.",
    ADMIN_WRITE: "Administration changes: users, roles, grants. Needs the admin role.",
}
# Scopes that act for an administrator: only while the owner holds this role.
ROLE_OF_SCOPE = {ADMIN_READ: "admin", ADMIN_WRITE: "admin"}
