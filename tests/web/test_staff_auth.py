"""Staff sign-in: protection of every staff route, sessions that end on the server, throttling."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from booking.extensions import db
from booking.models import StaffSession, User
from tests.conftest import STAFF_PASSWORD, csrf_from


def fill_url(rule) -> str:
    """A URL for the rule, with a harmless value for each argument."""
    values = {}
    for name, converter in rule._converters.items():
        values[name] = 1 if type(converter).__name__ == "IntegerConverter" else "x"
    return rule.build(values, append_unknown=False)[1]


def protected_rules(app):
    return [
        rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.split(".")[0] in {"staff", "admin"} and rule.endpoint != "staff.login"
    ]


def test_every_staff_and_admin_route_redirects_to_sign_in(seeded, client):
    rules = protected_rules(seeded)
    assert len(rules) >= 3
    # A valid CSRF token, so that a POST meets the sign-in check and not the CSRF check.
    token = csrf_from(client.get("/staff/login").get_data(as_text=True))
    for rule in rules:
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            response = client.open(fill_url(rule), method=method, data={"csrf_token": token})
            assert response.status_code in (302, 303), (rule, method, response.status_code)
            assert response.headers["Location"].startswith("/staff/login"), rule


def test_admin_pages_are_forbidden_for_other_roles(seeded, client, make_staff, sign_in):
    sign_in(client, make_staff("rez@herne.example", "reception", "herne"))
    for rule in protected_rules(seeded):
        if rule.endpoint.startswith("admin.") and "GET" in rule.methods:
            assert client.get(fill_url(rule)).status_code == 403, rule


def test_wrong_password_and_unknown_account_answer_alike(seeded, client, make_staff):
    make_staff("rez@herne.example", "reception", "herne")
    token = csrf_from(client.get("/staff/login").get_data(as_text=True))
    wrong = client.post(
        "/staff/login",
        data={"csrf_token": token, "email": "rez@herne.example", "password": "nope-nope-nope"},
    )
    unknown = client.post(
        "/staff/login",
        data={"csrf_token": token, "email": "nobody@herne.example", "password": "nope-nope-nope"},
    )
    assert wrong.status_code == unknown.status_code == 401
    strip = lambda r: re.sub(r'value="[^"]*"', "", r.get_data(as_text=True))  # noqa: E731
    assert strip(wrong).replace("rez@herne.example", "X") == strip(unknown).replace(
        "nobody@herne.example", "X"
    )


def test_sign_in_renews_the_session(seeded, client, make_staff, sign_in):
    email = make_staff("rez@herne.example", "reception", "herne")
    with client.session_transaction() as session:
        session["planted"] = "by someone else"
    sign_in(client, email)
    with client.session_transaction() as session:
        assert "planted" not in session


def test_sign_out_ends_the_session_on_the_server(seeded, client, make_staff, sign_in):
    sign_in(client, make_staff("rez@herne.example", "reception", "herne"))
    with client.session_transaction() as session:
        stolen = dict(session)
    page = client.get("/staff/").get_data(as_text=True)
    client.post("/staff/logout", data={"csrf_token": csrf_from(page)})
    with seeded.app_context():
        assert db.session.scalar(select(func.count()).select_from(StaffSession)) == 0
    # A copy of the old cookie is worth nothing now.
    with client.session_transaction() as session:
        session.update(stolen)
    assert client.get("/staff/").status_code == 302


def test_deactivation_ends_the_session(seeded, client, make_staff, sign_in):
    email = make_staff("rez@herne.example", "reception", "herne")
    sign_in(client, email)
    assert client.get("/staff/").status_code == 200
    with seeded.app_context():
        db.session.scalar(select(User).where(User.email == email)).is_active = False
        db.session.commit()
    assert client.get("/staff/").status_code == 302


def test_next_parameter_cannot_leave_the_site(seeded, client, make_staff):
    make_staff("rez@herne.example", "reception", "herne")
    for target in ("https://evil.example/", "//evil.example/x", "/staff/"):
        # Signing in renews the session, and with it the CSRF token.
        token = csrf_from(client.get("/staff/login").get_data(as_text=True))
        response = client.post(
            "/staff/login",
            data={
                "csrf_token": token,
                "email": "rez@herne.example",
                "password": STAFF_PASSWORD,
                "next": target,
            },
        )
        assert response.headers["Location"] == "/staff/", target


def attempt(client, email, password, address="192.0.2.10"):
    token = csrf_from(client.get("/staff/login").get_data(as_text=True))
    return client.post(
        "/staff/login",
        data={"csrf_token": token, "email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def test_failed_sign_ins_slow_the_address_down_but_not_the_owner(seeded, client, make_staff):
    make_staff("rez@herne.example", "reception", "herne")
    codes = [attempt(client, "rez@herne.example", "wrong-password").status_code for _ in range(3)]
    assert codes == [401] * 3
    # The fourth try from that address is refused, even with the right password...
    refused = attempt(client, "rez@herne.example", STAFF_PASSWORD)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 8
    assert 'id="password-error"' in refused.get_data(as_text=True)
    # ...while the owner, at another address, signs in at once.
    owner = seeded.test_client()
    assert attempt(owner, "rez@herne.example", STAFF_PASSWORD, "198.51.100.7").status_code == 303
    # An unknown account is throttled just the same, so the answer tells nothing.
    ghost = [attempt(client, "ghost@herne.example", "wrong-password").status_code for _ in range(4)]
    assert ghost == [401, 401, 401, 429]
    strip = lambda r: re.sub(r'value="[^"]*"|\d+', "", r.get_data(as_text=True))  # noqa: E731
    assert strip(refused).replace("rez@herne.example", "X") == strip(
        attempt(client, "ghost@herne.example", "x")
    ).replace("ghost@herne.example", "X")


def test_create_user_enforces_the_password_policy(app, runner, seeded):
    from booking.auth import PasswordRejected, check_password_policy

    for password in ("kurz", "x" * 65, "passwort123"):
        # The command speaks the default language; the expected message comes from the policy.
        with app.test_request_context():
            with pytest.raises(PasswordRejected) as refused:
                check_password_policy(password)
            expected = str(refused.value)
        result = runner.invoke(
            args=[
                "create-user",
                "a@herne.example",
                "--role",
                "counsellor",
                "--centre",
                "herne",
                "--password-stdin",
            ],
            input=password + "\n",
        )
        assert result.exit_code != 0 and expected in result.output, (password, result.output)
        with app.app_context():
            assert db.session.scalar(select(User).where(User.email == "a@herne.example")) is None
    ok = runner.invoke(
        args=[
            "create-user",
            "a@herne.example",
            "--role",
            "counsellor",
            "--centre",
            "herne",
            "--password-stdin",
        ],
        input="Lange-gute-Passphrase\n",
    )
    assert ok.exit_code == 0, ok.output
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "a@herne.example"))
        assert user.password_hash.startswith("$argon2")
