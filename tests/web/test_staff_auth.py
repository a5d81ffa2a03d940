"""Staff sign-in: protection of every staff route, sessions that end on the server, throttling."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select
from werkzeug.routing import IntegerConverter

from booking.extensions import db
from booking.models import (
    Absence,
    Booking,
    Centre,
    Closure,
    OpeningHours,
    OutboxMessage,
    Service,
    StaffSession,
    User,
)
from tests.conftest import STAFF_PASSWORD, csrf_from


def fill_url(rule) -> str:
    """A URL for the rule, with a harmless value for each argument."""
    values = {}
    for name, converter in rule._converters.items():
        values[name] = 1 if isinstance(converter, IntegerConverter) else "x"
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


def test_a_deployment_hashes_at_argon2s_own_cost_and_the_tests_cheaper(tmp_path):
    """The deployment's hash is argon2id at argon2-cffi's cost (RFC 9106: 3 passes over
    64 MiB, 4 lanes); the tests' cheaper cost is argon2id too, and a hash made at one cost
    is checked at the other and made anew at the app's own at the next sign-in."""
    from argon2 import PasswordHasher

    from booking import auth, create_app
    from booking.config import Config, TestConfig

    assert Config.PASSWORD_HASH_COST is None
    deployed = create_app(
        Config,
        instance_path=str(tmp_path / "deployed"),
        SQLALCHEMY_DATABASE_URI="sqlite://",
        SECRET_KEY="x",
    )
    tested = create_app(TestConfig, instance_path=str(tmp_path / "tested"))
    default = PasswordHasher()
    with deployed.app_context():
        strong = auth.hash_password(STAFF_PASSWORD)
    assert strong.startswith(
        f"$argon2id$v=19$m={default.memory_cost},t={default.time_cost},p={default.parallelism}$"
    )
    with tested.app_context():
        cheap = auth.hash_password(STAFF_PASSWORD)
        assert cheap.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
        user = User(password_hash=strong)
        assert auth.verify_password(user, STAFF_PASSWORD)
        assert user.password_hash.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
        assert not auth.verify_password(user, "wrong-" + STAFF_PASSWORD)
        assert not auth.verify_password(None, STAFF_PASSWORD)
    with deployed.app_context():
        user = User(password_hash=cheap)
        assert auth.verify_password(user, STAFF_PASSWORD)
        assert user.password_hash.startswith(f"$argon2id$v=19$m={default.memory_cost},")


# Pages open to some roles only; every other staff page is open to every signed-in role.
ROLE_ONLY = {
    "admin": {"admin"},
    "staff.audit_log": {"admin"},
    "staff.feed": {"counsellor"},
    "staff.absences": {"admin", "counsellor", "reception"},
    "staff.conflicts_bulk": {"admin", "counsellor", "reception"},
}


def herne_ids(app) -> dict[str, int]:
    """For each id a route takes, one of a record of Herne (or 1 where Herne has none)."""
    with app.app_context():
        herne = db.session.scalar(select(Centre).where(Centre.slug == "herne"))
        first = {
            "booking_id": select(Booking.id).where(Booking.centre_id == herne.id),
            "absence_id": select(Absence.id).join(User).where(User.centre_id == herne.id),
            "closure_id": select(Closure.id).where(Closure.centre_id == herne.id),
            "hours_id": select(OpeningHours.id).where(OpeningHours.centre_id == herne.id),
            "message_id": select(OutboxMessage.id),
            "service_id": select(Service.id).where(Service.centre_id == herne.id),
            "user_id": select(User.id).where(User.centre_id == herne.id, User.role == "counsellor"),
        }
        return {name: db.session.scalar(query.limit(1)) or 1 for name, query in first.items()}


def herne_url(rule, ids: dict[str, int]) -> str:
    values = {}
    for name, converter in rule._converters.items():
        if isinstance(converter, IntegerConverter):
            values[name] = ids.get(name, 1)
        else:
            values[name] = "herne" if name == "centre_slug" else "x"
    return rule.build(values, append_unknown=False)[1]


@pytest.mark.parametrize(
    ("who", "role", "centre"),
    [
        ("anonymous", None, None),
        ("reception", "reception", "herne"),
        ("counsellor", "counsellor", "herne"),
        ("admin of another centre", "admin", "kreis-heinsberg"),
        ("admin", "admin", "herne"),
    ],
)
def test_every_route_answers_each_role_as_access_decides(
    seeded, client, make_staff, sign_in, who, role, centre
):
    """Walks every staff and admin route, every method, for one kind of account: denied
    (403) where the role may not open the page, hidden or denied (404/403) where an admin
    of another centre asks for Herne's records, answered (no 403, no error) elsewhere."""
    ids = herne_ids(seeded)
    if role is not None:
        sign_in(client, make_staff(f"{role}@walk.example", role, centre))
    # The walk may end the own session only at its very end.
    rules = sorted(protected_rules(seeded), key=lambda r: r.endpoint == "staff.logout")
    token = csrf_from(client.get("/staff/login").get_data(as_text=True))
    for rule in rules:
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(herne_url(rule, ids), method=method, data={"csrf_token": token})
            answer = (rule.endpoint, method, response.status_code)
            needed = ROLE_ONLY.get(rule.endpoint) or ROLE_ONLY.get(rule.endpoint.split(".")[0])
            if role is None:
                assert response.status_code in (302, 303), answer
                assert response.headers["Location"].startswith("/staff/login"), answer
            elif needed is not None and role not in needed:
                assert response.status_code == 403, answer
            elif centre != "herne" and (
                "centre_slug" in rule.arguments
                or any(name.endswith("_id") for name in rule.arguments)
            ):
                assert response.status_code in (403, 404), answer
            else:
                assert response.status_code != 403, answer
                assert response.status_code < 500, answer


def test_a_session_unused_for_30_minutes_ends(seeded, client, make_staff, sign_in):
    from datetime import timedelta

    sign_in(client, make_staff("rez@herne.example", "reception", "herne"))

    def idle_for(minutes: int) -> None:
        with seeded.app_context():
            row = db.session.scalar(select(StaffSession))
            row.last_seen_at = row.last_seen_at - timedelta(minutes=minutes)
            db.session.commit()

    idle_for(29)
    assert client.get("/staff/").status_code == 200  # used again in time: it goes on
    idle_for(30)
    response = client.get("/staff/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/staff/login")
    with seeded.app_context():  # ended on the server, not only for this request
        assert db.session.scalar(select(func.count()).select_from(StaffSession)) == 0


def test_a_sign_in_without_its_csrf_token_is_refused(seeded, client, make_staff):
    email = make_staff("rez@herne.example", "reception", "herne")
    client.get("/staff/login")  # a session exists, so only the token is missing
    for data in (
        {"email": email, "password": STAFF_PASSWORD},
        {"email": email, "password": STAFF_PASSWORD, "csrf_token": "forged"},
    ):
        response = client.post("/staff/login", data=data)
        assert response.status_code in (400, 401), response.status_code
        assert "Location" not in response.headers
    with seeded.app_context():
        assert db.session.scalar(select(func.count()).select_from(StaffSession)) == 0
    assert client.get("/staff/").status_code == 302
