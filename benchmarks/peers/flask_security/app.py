"""Flask-Security-Too, its quick start ("Basic Flask-SQLAlchemy Application"),
serving flaskou's GET /api/v1/users/me with token authentication.

Runs in its own virtualenv (requirements.txt), never in flaskou's. Settings
from the environment: PEER_DATABASE (a SQLite file), PEER_SECRET.

`python app.py seed ME_JSON` creates the schema and the one user, with the
fields of flaskou's user document (ME_JSON, a file); the benchmark then logs
in over HTTP (POST /login?include_auth_token) for the token, and sends it in
the `Authentication-Token` header.
"""

import json
import os
import sys
import uuid
from datetime import UTC, datetime, timedelta

from flask import Flask
from flask_security import (
    Security,
    SQLAlchemyUserDatastore,
    auth_required,
    current_user,
    hash_password,
)
from flask_security.models import fsqla_v3 as fsqla
from flask_sqlalchemy import SQLAlchemy

PASSWORD = "benchmark password"  # noqa: S105 - the benchmark account's password

app = Flask(__name__)
app.config["SECRET_KEY"] = os.environ["PEER_SECRET"]
app.config["SECURITY_PASSWORD_SALT"] = os.environ["PEER_SECRET"] + "-salt"
app.config["REMEMBER_COOKIE_SAMESITE"] = "strict"
app.config["SESSION_COOKIE_SAMESITE"] = "strict"
app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.environ["PEER_DATABASE"]
# The quick start pre-pings pooled connections; flaskou does not on SQLite
# (nothing to reconnect to), so neither does its peer: the same work.
app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 15}}
# The documented header, set explicitly (it is also the default).
app.config["SECURITY_TOKEN_AUTHENTICATION_HEADER"] = "Authentication-Token"  # noqa: S105
app.config["SECURITY_TOKEN_MAX_AGE"] = timedelta(hours=6)  # outlives any run
# A JSON API logs in without a CSRF token (documented for SPAs/APIs).
app.config["SECURITY_CSRF_IGNORE_UNAUTH_ENDPOINTS"] = True
app.config["SECURITY_USERNAME_ENABLE"] = True

db = SQLAlchemy(app)
fsqla.FsModels.set_db_info(db)


class Role(db.Model, fsqla.FsRoleMixin):
    pass


class User(db.Model, fsqla.FsUserMixin):
    # flaskou's users are known by a UUID; the quick start's id is an integer.
    public_id = db.Column(db.String(36), unique=True, nullable=False)


user_datastore = SQLAlchemyUserDatastore(db, User, Role)
app.security = Security(app, user_datastore)


def _instant(value: datetime) -> str:
    # SQLite keeps naive datetimes; they were stored in UTC.
    return value.replace(tzinfo=UTC).isoformat()


@app.get("/api/v1/users/me")
@auth_required("token")
def me():
    user = current_user
    return {
        "id": user.public_id,
        "username": user.username,
        "email": user.email,
        "email_verified": user.confirmed_at is not None,
        "mfa_enabled": user.tf_primary_method is not None,
        "roles": [role.name for role in user.roles],
        "is_active": user.active,
        "created_at": _instant(user.create_datetime),
        "updated_at": _instant(user.update_datetime),
    }


def seed(document: dict) -> None:
    with app.app_context():
        db.create_all()
        user = user_datastore.create_user(
            email=document["email"],
            username=document["username"],
            password=hash_password(PASSWORD),
            public_id=str(uuid.UUID(document["id"])),
            active=document["is_active"],
            create_datetime=datetime.fromisoformat(document["created_at"]).replace(tzinfo=None),
            update_datetime=datetime.fromisoformat(document["updated_at"]).replace(tzinfo=None),
        )
        for name in document["roles"]:
            user_datastore.add_role_to_user(user, user_datastore.find_or_create_role(name))
        db.session.commit()


if __name__ == "__main__" and sys.argv[1:2] == ["seed"]:
    with open(sys.argv[2]) as handle:
        seed(json.load(handle))
