"""Staff accounts: admins change only accounts wholly within their centres, calendar feeds
end with the account, passwords are hard to guess, and every staff member can change
their own (and must, after an admin chose it).

Elements are found by ids and names, never by (translated) text.
"""

from __future__ import annotations

import re
from email import message_from_bytes
from email import policy as mail_policy

import pytest
from icalendar import Calendar
from sqlalchemy import func, select

from booking import auth
from booking.extensions import db
from booking.models import AuditEntry, Centre, SignInFailure, StaffSession, User
from tests.conftest import STAFF_PASSWORD, csrf_from
from tests.helpers import at, mail_of, next_working_day

pytestmark = pytest.mark.backends("sqlite", "pg")

HERNE_ADMIN = "admin@herne.example"
BOTH_ADMIN = "chef@kreis.example"
KARIM = "karim.haddad@herne.example"
NEW_PASSWORD = "Tulpen-am-Kanal-im-Mai"


def user_id(app, email: str) -> int:
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.email == email))


def user_of(app, email: str) -> User:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        db.session.expunge(user)
        return user


def post(client, url: str, data: dict | None = None, page: str = "/staff/"):
    token = csrf_from(client.get(page).get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **(data or {})})


def session_count(app, email: str) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.count()).select_from(StaffSession).join(User).where(User.email == email)
        )


@pytest.fixture
def herne_admin(seeded, client, make_staff, sign_in):
    make_staff(BOTH_ADMIN, "admin", "herne", "kreis-heinsberg", name="Chefin Beider")
    sign_in(client, make_staff(HERNE_ADMIN, "admin", "herne"))
    return client


# Scoped administration.


def test_an_admin_of_one_centre_cannot_change_an_admin_of_two(seeded, herne_admin, sign_in):
    other = user_id(seeded, BOTH_ADMIN)
    base = f"/admin/centres/herne/staff/{other}"
    page = herne_admin.get(base)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    # Shown read-only: no form or button that would change the account.
    assert 'id="read-only"' in html
    assert f'action="{base}' not in html
    forced = {
        base: {"name": "Übernommen", "languages": "de"},
        f"{base}/deactivate": {},
        f"{base}/reactivate": {},
        f"{base}/password": {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        f"{base}/hours": {"weekday": "0", "opens": "10:00", "closes": "12:00"},
    }
    for url, data in forced.items():
        assert post(herne_admin, url, data).status_code == 403, url
    after = user_of(seeded, BOTH_ADMIN)
    assert after.is_active and after.name == "Chefin Beider" and not after.must_change_password
    assert session_count(seeded, BOTH_ADMIN) == 0  # nothing ended, nothing started
    # The owner still signs in with the old password.
    sign_in(seeded.test_client(), BOTH_ADMIN)


def test_an_admin_of_both_centres_can_change_a_herne_admin(seeded, client, make_staff, sign_in):
    make_staff(HERNE_ADMIN, "admin", "herne")
    sign_in(client, make_staff(BOTH_ADMIN, "admin", "herne", "kreis-heinsberg"))
    target = user_id(seeded, HERNE_ADMIN)
    html = client.get(f"/admin/centres/herne/staff/{target}").get_data(as_text=True)
    assert 'id="read-only"' not in html
    response = post(client, f"/admin/centres/herne/staff/{target}/deactivate")
    assert response.status_code == 303
    assert not user_of(seeded, HERNE_ADMIN).is_active


def test_counsellors_of_the_centre_stay_changeable(seeded, herne_admin):
    karim = user_id(seeded, KARIM)
    html = herne_admin.get(f"/admin/centres/herne/staff/{karim}").get_data(as_text=True)
    assert 'id="read-only"' not in html and 'id="set-password"' in html


# Calendar feeds end with the account.


def new_feed_url(client) -> str:
    page = client.get("/staff/feed").get_data(as_text=True)
    response = client.post("/staff/feed", data={"csrf_token": csrf_from(page)})
    match = re.search(r'id="feed-url" class="feed-url" value="([^"]+)"', response.get_data(True))
    assert match
    return match.group(1).removeprefix("http://localhost")


def test_deactivation_revokes_the_feed_for_good(seeded, herne_admin, make_staff, sign_in):
    counsellor = seeded.test_client()
    sign_in(counsellor, make_staff(KARIM, "counsellor", "herne"))
    url = new_feed_url(counsellor)
    anonymous = seeded.test_client()
    assert anonymous.get(url).status_code == 200
    karim = user_id(seeded, KARIM)
    base = f"/admin/centres/herne/staff/{karim}"
    assert post(herne_admin, f"{base}/deactivate").status_code == 303
    assert anonymous.get(url).status_code == 404
    assert post(herne_admin, f"{base}/reactivate").status_code == 303
    # Reactivated, the old address stays dead; a new one is made on request.
    assert anonymous.get(url).status_code == 404
    sign_in(counsellor, KARIM)
    html = counsellor.get("/staff/feed").get_data(as_text=True)
    assert 'id="feed-missing"' in html
    renewed = new_feed_url(counsellor)
    assert renewed != url
    assert anonymous.get(renewed).status_code == 200
    assert anonymous.get(url).status_code == 404


def feed_summaries(client, url) -> list[str]:
    response = client.get(url)
    assert response.status_code == 200
    return [str(e["SUMMARY"]) for e in Calendar.from_ical(response.get_data()).walk("VEVENT")]


def test_feed_summaries_are_neutral_unless_the_centre_turns_the_topic_on(
    seeded, herne_admin, make_staff, sign_in, make_booking
):
    seeded.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    monday = next_working_day(0)
    # Karim offers "beratung-2" (upbringing and psychosocial conflicts) at Herne.
    booking = make_booking(at(monday, 9), service="beratung-2", language="ar")
    counsellor = seeded.test_client()
    sign_in(counsellor, make_staff(KARIM, "counsellor", "herne"))
    assert user_id(seeded, KARIM) == booking.counsellor_id
    url = new_feed_url(counsellor)
    anonymous = seeded.test_client()
    assert feed_summaries(anonymous, url) == [f"Beratung · {booking.reference}"]
    body = anonymous.get(url).get_data(as_text=True).lower()
    assert "erziehung" not in body and "konflikt" not in body

    rules = herne_admin.get("/admin/centres/herne/rules").get_data(as_text=True)
    assert 'id="feed_shows_service"' in rules
    assert not re.search(r'<input[^>]*id="feed_shows_service"[^>]*checked', rules)
    with seeded.app_context():
        centre = db.session.scalar(select(Centre).where(Centre.slug == "herne"))
        form = {
            "min_notice_hours": centre.min_notice_minutes // 60,
            "horizon_days": centre.horizon_days,
            "slot_step_minutes": centre.slot_step_minutes,
            "buffer_minutes": centre.buffer_minutes,
            "max_active_bookings_per_email": centre.max_active_bookings_per_email,
            "holiday_region": centre.holiday_region,
        }
    response = post(herne_admin, "/admin/centres/herne/rules", {**form, "feed_shows_service": "y"})
    assert response.status_code == 303
    (summary,) = feed_summaries(anonymous, url)
    assert (
        summary
        == f"Beratung zu Erziehungsfragen und psychosozialen Konflikten · {booking.reference}"
    )
    # Turned off again (an unticked box), the feed is neutral again.
    assert post(herne_admin, "/admin/centres/herne/rules", form).status_code == 303
    assert feed_summaries(anonymous, url) == [f"Beratung · {booking.reference}"]


# Passwords.


@pytest.mark.parametrize(
    "password",
    [
        "Herne2026",
        "Winter2025!",
        "abcabcab",
        "Passwort2026!",
        "Karim-Haddad-77",
        "haddad-Kalender-9",
        # Months, weekdays, seasons, first names and the centre's words, with digits.
        "Dezember2026!",
        "Montag123!",
        "Ayse1990!",
        "Herne-Termin-1",
        "Sommer-Herbst-77",
    ],
)
def test_guessable_and_personal_passwords_are_refused(seeded, password):
    with seeded.test_request_context(), pytest.raises(auth.PasswordRejected):
        auth.check_password_policy(password, KARIM, "Karim Haddad")


@pytest.mark.parametrize(
    "password", ["Tulpen-am-Kanal-im-Mai", "korrekt Pferd Batterie Heftklammer", STAFF_PASSWORD]
)
def test_sound_passphrases_are_accepted(seeded, password):
    with seeded.test_request_context():
        auth.check_password_policy(password, KARIM, "Karim Haddad")


def change_password(client, current, new, confirm=None):
    page = client.get("/staff/password").get_data(as_text=True)
    return client.post(
        "/staff/password",
        data={
            "csrf_token": csrf_from(page),
            "current": current,
            "new": new,
            "confirm": new if confirm is None else confirm,
        },
    )


@pytest.mark.parametrize(
    ("current", "new", "confirm", "field"),
    [
        ("falsch-falsch-falsch", NEW_PASSWORD, None, "current"),
        (STAFF_PASSWORD, "Herne2026", None, "new"),
        (STAFF_PASSWORD, "Winter2025!", None, "new"),
        (STAFF_PASSWORD, "abcabcab", None, "new"),
        (STAFF_PASSWORD, "Karim-Haddad-Beratung", None, "new"),
        (STAFF_PASSWORD, NEW_PASSWORD, "Tulpen-am-Kanal-im-Juni", "confirm"),
        (STAFF_PASSWORD, STAFF_PASSWORD, None, "new"),
    ],
)
def test_own_password_change_refuses_with_a_message_next_to_the_field(
    seeded, client, make_staff, sign_in, current, new, confirm, field
):
    sign_in(client, make_staff(KARIM, "counsellor", "herne", name="Karim Haddad"))
    before = user_of(seeded, KARIM).password_hash
    response = change_password(client, current, new, confirm)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(rf'<p class="field-error" id="{field}-error">[^<]+</p>', html)
    assert re.search(
        rf'<input[^>]*aria-describedby="[^"]*{field}-error[^"]*"[^>]*id="{field}"', html
    )
    assert user_of(seeded, KARIM).password_hash == before


def test_own_password_change_ends_the_other_sessions(seeded, client, make_staff, sign_in):
    sign_in(client, make_staff(KARIM, "counsellor", "herne"))
    elsewhere = seeded.test_client()
    sign_in(elsewhere, KARIM)
    assert session_count(seeded, KARIM) == 2
    response = change_password(client, STAFF_PASSWORD, NEW_PASSWORD)
    assert response.status_code == 303
    assert client.get("/staff/").status_code == 200  # this session goes on
    assert elsewhere.get("/staff/").status_code == 302  # the other one is over
    assert session_count(seeded, KARIM) == 1
    fresh = seeded.test_client()
    sign_in(fresh, KARIM, NEW_PASSWORD)
    stale = seeded.test_client()
    token = csrf_from(stale.get("/staff/login").get_data(as_text=True))
    old = stale.post(
        "/staff/login", data={"csrf_token": token, "email": KARIM, "password": STAFF_PASSWORD}
    )
    assert old.status_code == 401
    karim = user_id(seeded, KARIM)
    with seeded.app_context():
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "password"))
        assert entry.actor_id == karim


def test_an_admin_set_password_must_be_changed_first(seeded, herne_admin, make_staff, sign_in):
    counsellor = seeded.test_client()
    sign_in(counsellor, make_staff(KARIM, "counsellor", "herne", name="Karim Haddad"))
    karim = user_id(seeded, KARIM)
    base = f"/admin/centres/herne/staff/{karim}"
    refused = post(
        herne_admin, f"{base}/password", {"password": "Herne2026", "confirm": "Herne2026"}
    )
    assert refused.status_code == 422
    assert 'id="password-error"' in refused.get_data(as_text=True)
    mismatch = post(
        herne_admin, f"{base}/password", {"password": NEW_PASSWORD, "confirm": "anders-als-oben"}
    )
    assert mismatch.status_code == 422 and 'id="confirm-error"' in mismatch.get_data(True)
    assert not user_of(seeded, KARIM).must_change_password

    set_by_admin = "Admin-setzt-Kennwort-Tulpe"
    response = post(
        herne_admin, f"{base}/password", {"password": set_by_admin, "confirm": set_by_admin}
    )
    assert response.status_code == 303
    assert user_of(seeded, KARIM).must_change_password
    # The old session is over; signing in with the new password leads to the change page.
    assert counsellor.get("/staff/").status_code == 302
    sign_in(counsellor, KARIM, set_by_admin)
    for page in ("/staff/", "/staff/calendar", "/staff/feed", "/staff/intake"):
        response = counsellor.get(page)
        assert response.status_code == 302 and response.headers["Location"] == "/staff/password"
    assert change_password(counsellor, set_by_admin, NEW_PASSWORD).status_code == 303
    assert not user_of(seeded, KARIM).must_change_password
    assert counsellor.get("/staff/calendar").status_code == 200
    with seeded.app_context():
        details = db.session.scalars(
            select(AuditEntry.detail).where(AuditEntry.action == "password")
        ).all()
        assert details == [f"staff {karim}: password set", "own password changed"]


def test_a_forced_admin_cannot_reach_the_admin_pages(seeded, client, make_staff, sign_in):
    make_staff(BOTH_ADMIN, "admin", "herne", "kreis-heinsberg")
    email = make_staff(HERNE_ADMIN, "admin", "herne")
    with seeded.app_context():
        db.session.scalar(select(User).where(User.email == email)).must_change_password = True
        db.session.commit()
    sign_in(client, email)
    response = client.get("/admin/centres/herne/staff")
    assert response.status_code == 302 and response.headers["Location"] == "/staff/password"


# Sign-in throttling, with time passed in.


def test_the_wait_grows_with_each_failure_and_ends(seeded):
    from datetime import timedelta

    from booking.models import utcnow

    now = utcnow()
    with seeded.test_request_context():
        for _ in range(3):
            assert auth.sign_in_blocked_until(KARIM, "192.0.2.1", now) is None
            auth.record_failed_sign_in(KARIM, "192.0.2.1", now)
        assert auth.sign_in_blocked_until(KARIM, "192.0.2.1", now) == now + timedelta(seconds=8)
        # Another address, and the same address for another account, are not blocked.
        assert auth.sign_in_blocked_until(KARIM, "192.0.2.2", now) is None
        assert auth.sign_in_blocked_until("other@herne.example", "192.0.2.1", now) is None
        later = now + timedelta(seconds=8)
        assert auth.sign_in_blocked_until(KARIM, "192.0.2.1", later) is None
        auth.record_failed_sign_in(KARIM, "192.0.2.1", later)
        assert auth.sign_in_blocked_until(KARIM, "192.0.2.1", later) == later + timedelta(
            seconds=16
        )
        # Case and spaces of the address typed make no difference.
        assert auth.sign_in_blocked_until(f" {KARIM.upper()}", "192.0.2.1", later) is not None
        # A day later, it is forgotten.
        assert auth.sign_in_blocked_until(KARIM, "192.0.2.1", later + timedelta(days=1)) is None
        # Neither the address typed nor the client address is stored.
        stored = " ".join(f"{row.key_hash}" for row in db.session.scalars(select(SignInFailure)))
        assert "192.0.2" not in stored and "karim" not in stored


def test_many_accounts_from_one_address_hit_the_address_limit(seeded):
    from booking.models import utcnow

    now = utcnow()
    with seeded.test_request_context():
        for i in range(30):
            auth.record_failed_sign_in(f"guess{i}@herne.example", "203.0.113.5", now)
        assert auth.sign_in_blocked_until("new@herne.example", "203.0.113.5", now) is not None
        assert auth.sign_in_blocked_until("new@herne.example", "203.0.113.6", now) is None


def test_a_successful_sign_in_clears_the_pair(seeded, client, make_staff, sign_in):
    from booking.models import utcnow

    email = make_staff(KARIM, "counsellor", "herne")
    with seeded.test_request_context():
        for _ in range(2):
            auth.record_failed_sign_in(email, "127.0.0.1", utcnow())
    sign_in(client, email)
    with seeded.test_request_context():
        auth.record_failed_sign_in(email, "127.0.0.1", utcnow())
        assert auth.sign_in_blocked_until(email, "127.0.0.1", utcnow()) is None


def login_from(client, email: str, password: str, address: str):
    token = csrf_from(client.get("/staff/login").get_data(as_text=True))
    return client.post(
        "/staff/login",
        data={"csrf_token": token, "email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def notices_to(app, email: str) -> list[bytes]:
    from booking.models import OutboxMessage

    with app.app_context():
        rows = db.session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.recipient == email, OutboxMessage.kind == "account_notice"
            )
        ).all()
        return [mail_of(app, row) for row in rows]


def test_guesses_spread_over_many_addresses_make_the_account_wait_and_tell_its_owner(
    seeded, client, make_staff
):
    email = make_staff(KARIM, "counsellor", "herne")
    # Ten wrong passwords, each from its own address: no pair and no address reaches a limit.
    codes = [
        login_from(client, email, "falsch-falsch-falsch", f"198.51.100.{i}").status_code
        for i in range(10)
    ]
    assert codes == [401] * 10
    # Now the account waits, from any address, even with the right password.
    refused = login_from(client, email, STAFF_PASSWORD, "203.0.113.77")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 8
    # The owner was told once, in German, without the addresses of the guesses.
    notices = notices_to(seeded, email)
    assert len(notices) == 1
    message = message_from_bytes(notices[0], policy=mail_policy.default)
    text = message.get_body(("plain",)).get_content()
    assert "Passwort" in text and "198.51.100" not in text
    assert message["To"] == KARIM
    # An unknown account waits alike, but nobody is mailed.
    for i in range(11):
        login_from(client, "niemand@herne.example", "falsch-falsch-falsch", f"192.0.2.{i}")
    assert login_from(client, "niemand@herne.example", "x" * 12, "192.0.2.99").status_code == 429
    assert notices_to(seeded, "niemand@herne.example") == []


def test_an_ipv6_client_counts_as_its_64(seeded, client, make_staff):
    email = make_staff(KARIM, "counsellor", "herne")
    for host in ("1", "2:3", "ffff:9"):
        assert (
            login_from(client, email, "falsch-falsch-falsch", f"2001:db8:0:7::{host}").status_code
            == 401
        )
    # Another address of the same /64 is the same client...
    assert login_from(client, email, STAFF_PASSWORD, "2001:db8:0:7::abcd").status_code == 429
    # ...another /64 is another one.
    assert login_from(client, email, STAFF_PASSWORD, "2001:db8:0:8::1").status_code == 303


def test_wrong_current_passwords_at_the_password_page_are_throttled(
    seeded, client, make_staff, sign_in
):
    sign_in(client, make_staff(KARIM, "counsellor", "herne"))
    before = user_of(seeded, KARIM).password_hash
    codes = [
        change_password(client, f"falsch-{i}-falsch", NEW_PASSWORD).status_code for i in range(3)
    ]
    assert codes == [422] * 3
    # The fourth try waits, even with the right current password.
    refused = change_password(client, STAFF_PASSWORD, NEW_PASSWORD)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert 'id="current-error"' in refused.get_data(as_text=True)
    assert user_of(seeded, KARIM).password_hash == before
