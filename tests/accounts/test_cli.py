from __future__ import annotations

from flaskou.accounts.service import find_by_login


def test_create_admin_with_a_password(runner, client):
    result = runner.invoke(args=["create-admin", "root", "Root@Example.com", "a long password"])
    assert result.exit_code == 0, result.output
    assert "Created admin root" in result.output
    user = find_by_login("root")
    assert user.role_names == ["admin"]
    assert user.email == "root@example.com"
    login = client.post("/api/v1/login", json={"username": "root", "password": "a long password"})
    assert login.status_code == 200


def test_create_admin_prompts_for_the_password(runner):
    result = runner.invoke(
        args=["create-admin", "root", "root@example.com"], input="secret pass\nsecret pass\n"
    )
    assert result.exit_code == 0, result.output
    assert "secret pass" not in result.output
    assert find_by_login("root").has_role("admin")


def test_create_admin_reuses_the_admin_role(runner):
    runner.invoke(args=["create-admin", "one", "one@example.com", "a long password"])
    result = runner.invoke(args=["create-admin", "two", "two@example.com", "a long password"])
    assert result.exit_code == 0
    assert find_by_login("two").role_names == ["admin"]


def test_create_admin_refuses_a_taken_username_in_one_line(runner):
    runner.invoke(args=["create-admin", "root", "root@example.com", "a long password"])
    result = runner.invoke(args=["create-admin", "root", "other@example.com", "a long password"])
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert "username" in lines[0]
    assert "Traceback" not in result.output


def test_create_admin_refuses_a_taken_email(runner):
    runner.invoke(args=["create-admin", "root", "root@example.com", "a long password"])
    result = runner.invoke(args=["create-admin", "other", "ROOT@example.com", "a long password"])
    assert result.exit_code != 0
    assert "email" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_create_admin_refuses_invalid_values(runner):
    result = runner.invoke(args=["create-admin", "Bad Name", "not-an-email", "short"])
    assert result.exit_code != 0
    output = result.output.strip()
    assert len(output.splitlines()) == 1
    assert "username" in output
    assert "email" in output
    assert "password" in output
    assert find_by_login("Bad Name") is None


def test_ensure_admin_creates_one_and_prints_the_password_once(runner, client):
    result = runner.invoke(args=["ensure-admin"])
    assert result.exit_code == 0, result.output
    password = result.output.strip().splitlines()[-1].rsplit(" ", 1)[-1]
    login = client.post("/api/v1/login", json={"username": "admin", "password": password})
    assert login.status_code == 200

    again = runner.invoke(args=["ensure-admin"])
    assert again.exit_code == 0
    assert "nothing to do" in again.output
    assert password not in again.output


def test_ensure_admin_takes_credentials_from_the_environment(runner):
    result = runner.invoke(
        args=["ensure-admin"],
        env={
            "ADMIN_USERNAME": "boss",
            "ADMIN_EMAIL": "boss@example.com",
            "ADMIN_PASSWORD": "from the environment",
        },
    )
    assert result.exit_code == 0, result.output
    assert "from the environment" not in result.output
    assert find_by_login("boss").has_role("admin")
