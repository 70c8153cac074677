"""HTTP glue for the caller's API keys. Managing keys needs a session: a key
cannot make, list or revoke keys."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from flaskou.apikeys import service
from flaskou.apikeys.models import ApiKey
from flaskou.apikeys.schemas import ApiKeyCreatedOut, ApiKeyIn, ApiKeyListOut
from flaskou.auth import SESSION_ONLY, auth_required, current_account, current_actor, current_user

bp = APIBlueprint("apikeys", __name__, url_prefix="/api/v1/users/me/api-keys", tag="API keys")


def key_view(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "scopes": key.scope_list,
        "prefix": key.prefix,
        "created_at": key.created_at,
        "expires_at": key.expires_at,
        "last_used_at": key.last_used_at,
    }


@bp.post("")
@auth_required(scope=SESSION_ONLY)
@bp.input(ApiKeyIn, arg_name="data")
@bp.output(
    ApiKeyCreatedOut,
    status_code=201,
    links={
        "RevokeApiKey": {
            "operationId": "revoke_api_key",
            "parameters": {"key_id": "$response.body#/id"},
        }
    },
)
@bp.doc(
    summary="Create an API key",
    description=(
        "The answer holds the token, once: only its hash is stored. `admin:read` and "
        "`admin:write` need the admin role, now and whenever the key is used. The "
        "account's address is sent a notice."
    ),
    responses={409: "The account already holds 100 API keys; revoke one first"},
)
def create_api_key(data: dict[str, Any]) -> dict[str, Any]:
    key, token = service.create_key(
        current_user(),
        name=data["name"],
        scopes=data["scopes"],
        expires_at=data["expires_at"],
        actor=current_actor(),
    )
    return {**key_view(key), "token": token}


@bp.get("")
@auth_required(scope=SESSION_ONLY)
@bp.output(ApiKeyListOut)
@bp.doc(summary="The caller's API keys, newest first (expired ones too, until revoked)")
def list_api_keys() -> dict[str, Any]:
    return {"items": [key_view(key) for key in service.list_keys(current_account().id)]}


@bp.delete("/<uuid:key_id>")
@auth_required(scope=SESSION_ONLY)
@bp.output({}, status_code=204)
@bp.doc(
    summary="Revoke one of the caller's API keys",
    description="For good: the key stops working at once and nothing brings it back.",
    responses={404: "Not one of the caller's API keys"},
)
def revoke_api_key(key_id: str) -> tuple[str, int]:
    service.revoke_key(current_account(), key_id, actor=current_actor())
    return "", 204
