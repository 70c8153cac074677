"""HTTP glue for the role catalogue (role `admin`)."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from flaskou.apikeys.scopes import ADMIN_READ, ADMIN_WRITE
from flaskou.auth import auth_required, current_actor
from flaskou.roles import service
from flaskou.roles.models import ADMIN_ROLE
from flaskou.roles.schemas import RoleCreateIn, RoleListOut, RoleOut, RoleUpdateIn

bp = APIBlueprint("roles", __name__, url_prefix="/api/v1/roles", tag="Administration")


@bp.get("")
@auth_required(ADMIN_ROLE, scope=ADMIN_READ)
@bp.output(RoleListOut)
@bp.doc(summary="Every role")
def list_roles() -> Any:
    return {"items": service.list_roles()}


@bp.post("")
@auth_required(ADMIN_ROLE, scope=ADMIN_WRITE)
@bp.input(RoleCreateIn, arg_name="data")
@bp.output(
    RoleOut,
    status_code=201,
    links={
        name: {"operationId": name_of, "parameters": {"name": "$response.body#/name"}}
        for name, name_of in (
            ("GetRole", "get_role"),
            ("UpdateRole", "update_role"),
            ("DeleteRole", "delete_role"),
        )
    },
)
@bp.doc(summary="Create a role", responses={409: "A role of that name exists"})
def create_role(data: dict[str, Any]) -> Any:
    return service.create_role(data["name"], data["description"], actor=current_actor())


@bp.get("/<role:name>")
@auth_required(ADMIN_ROLE, scope=ADMIN_READ)
@bp.output(RoleOut)
@bp.doc(summary="One role", responses={404: "No such role"})
def get_role(name: str) -> Any:
    return service.get_role(name)


@bp.patch("/<role:name>")
@auth_required(ADMIN_ROLE, scope=ADMIN_WRITE)
@bp.input(RoleUpdateIn, arg_name="data")
@bp.output(RoleOut)
@bp.doc(summary="Change a role's description", responses={404: "No such role"})
def update_role(name: str, data: dict[str, Any]) -> Any:
    return service.update_role(name, data["description"], actor=current_actor())


@bp.delete("/<role:name>")
@auth_required(ADMIN_ROLE, scope=ADMIN_WRITE)
@bp.output({}, status_code=204)
@bp.doc(
    summary="Delete a role (its holders lose it)",
    description="The built-in `admin` role cannot be deleted (409).",
    responses={404: "No such role", 409: "The built-in `admin` role"},
)
def delete_role(name: str) -> tuple[str, int]:
    service.delete_role(name, actor=current_actor())
    return "", 204
