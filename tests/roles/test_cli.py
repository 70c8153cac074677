from __future__ import annotations

from flaskou.accounts.service import find_by_login
from flaskou.roles.service import find_role


def test_roles_create_list_delete(runner):
    created = runner.invoke(args=["roles", "create", "editor", "Edits articles."])
    assert created.exit_code == 0, created.output
    listed = runner.invoke(args=["roles", "list"])
    assert "editor\tEdits articles." in listed.output
    deleted = runner.invoke(args=["roles", "delete", "editor", "--yes"])
    assert deleted.exit_code == 0, deleted.output
    assert find_role("editor") is None


def test_roles_errors_are_one_line(runner):
    runner.invoke(args=["create-admin", "root", "root@example.com", "a long password"])
    bad = runner.invoke(args=["roles", "create", "Bad Name", ""])
    assert bad.exit_code != 0
    assert len(bad.output.strip().splitlines()) == 1
    builtin = runner.invoke(args=["roles", "delete", "admin", "--yes"])
    assert builtin.exit_code != 0
    assert "admin" in builtin.output
    missing = runner.invoke(args=["roles", "delete", "ghost", "--yes"])
    assert missing.exit_code != 0


def test_users_list_grant_revoke_deactivate_activate(runner, accounts):
    accounts.signup("ada")
    runner.invoke(args=["roles", "create", "editor", "Edits."])

    granted = runner.invoke(args=["users", "grant", "ada", "editor"])
    assert granted.exit_code == 0, granted.output
    assert find_by_login("ada").role_names == ["editor"]

    listed = runner.invoke(args=["users", "list", "--q", "ad"])
    assert "ada\tada@example.com\tactive\teditor" in listed.output

    assert runner.invoke(args=["users", "revoke", "ada", "editor"]).exit_code == 0
    assert runner.invoke(args=["users", "deactivate", "ada"]).exit_code == 0
    assert find_by_login("ada").is_active is False
    assert runner.invoke(args=["users", "activate", "ada"]).exit_code == 0
    assert find_by_login("ada").is_active is True


def test_users_commands_refuse_unknown_names_and_the_last_admin(runner):
    runner.invoke(args=["create-admin", "root", "root@example.com", "a long password"])
    unknown = runner.invoke(args=["users", "grant", "ghost", "admin"])
    assert unknown.exit_code != 0
    assert "ghost" in unknown.output
    last = runner.invoke(args=["users", "deactivate", "root"])
    assert last.exit_code != 0
    assert "last active admin" in last.output
    assert runner.invoke(args=["users", "revoke", "root", "admin"]).exit_code != 0


def test_operator_actions_are_audited(runner, accounts):
    from sqlalchemy import select

    from flaskou.audit.models import AuditEvent
    from flaskou.extensions import db

    accounts.signup("ada")
    runner.invoke(args=["users", "deactivate", "ada"])
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user_updated")).one()
    assert (event.actor, event.target, event.ip) == (None, "ada", "cli")
