"""HTTP glue for administering users (role `admin`)."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from flaskou import lifecycle
from flaskou.accounts import service
from flaskou.accounts.schemas import UserAdminUpdateIn, UserListQuery, UserOut, UserPageOut
from flaskou.apikeys.scopes import ADMIN_READ, ADMIN_WRITE
from flaskou.auth import auth_required, current_actor
from flaskou.roles.models import ADMIN_ROLE

bp = APIBlueprint("users_admin", __name__, url_prefix="/api/v1/users", tag="Administration")


@bp.get("")
@auth_required(ADMIN_ROLE, scope=ADMIN_READ)
@bp.input(UserListQuery, location="query", arg_name="query")
@bp.output(UserPageOut)
@bp.doc(summary="List users (keyset pages in username order)")
def list_users(query: dict[str, Any]) -> Any:
    page = service.list_users(limit=query["limit"], cursor=query["cursor"], q=query.get("q"))
    return {"items": page.items, "next_cursor": page.next_cursor}


@bp.get("/<username:username>")
@auth_required(ADMIN_ROLE, scope=ADMIN_READ)
@bp.output(UserOut)
@bp.doc(summary="One user", responses={404: "No such user"})
def get_user(username: str) -> Any:
    return service.get_user(username)


@bp.patch("/<username:username>")
@auth_required(ADMIN_ROLE, scope=ADMIN_WRITE)
@bp.input(UserAdminUpdateIn, arg_name="data")
@bp.output(UserOut)
@bp.doc(
    summary="Activate, deactivate or change the email of a user",
    description="Deactivating revokes every session of the user.",
    responses={
        404: "No such user",
        409: "Deactivating the last active admin, or the email is taken",
    },
)
def update_user(username: str, data: dict[str, Any]) -> Any:
    return lifecycle.update_user(
        username, actor=current_actor(), is_active=data.get("is_active"), email=data.get("email")
    )


@bp.delete("/<username:username>")
@auth_required(ADMIN_ROLE, scope=ADMIN_WRITE)
@bp.output({}, status_code=204)
@bp.doc(
    summary="Delete a user with their sessions and files",
    description=(
        "Of concurrent deletions of one user exactly one succeeds and is audited; "
        "the others answer 404."
    ),
    responses={404: "No such user", 409: "The last active admin"},
)
def delete_user(username: str) -> tuple[str, int]:
    lifecycle.delete_user(username, actor=current_actor())
    return "", 204


@bp.post("/<username:username>/roles/<role:role>")
@auth_required(ADMIN_ROLE, scope=ADMIN_WRITE)
@bp.output(UserOut)
@bp.doc(summary="Grant a role (idempotent)", responses={404: "No such user or role"})
def grant_role(username: str, role: str) -> Any:
    return service.grant_role(username, role, actor=current_actor())


@bp.delete("/<username:username>/roles/<role:role>")
@auth_required(ADMIN_ROLE, scope=ADMIN_WRITE)
@bp.output(UserOut)
@bp.doc(
    summary="Revoke a role (idempotent)",
    description="Only the request that actually took the role away is audited.",
    responses={
        404: "No such user or role",
        409: "Taking `admin` from the last active admin",
    },
)
def revoke_role(username: str, role: str) -> Any:
    return service.revoke_role(username, role, actor=current_actor())
