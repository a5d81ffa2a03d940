"""No dead ends for families: the language kept from the first choice to the mail, free
times said once, old links, past and cancelled bookings, moves confirmed, the centre's
cancellations explained, a lost link found again, and the legal pages."""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime, timedelta
from email import policy
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from booking.extensions import db
from booking.models import Absence, Booking, Centre, Closure, OutboxMessage, Service, User
from tests.helpers import (
    BERLIN,
    answer_find_requests,
    at,
    berlin_today,
    mail_of,
    next_working_day,
)


@pytest.fixture
def centre(app, make_centre):
    """Two counsellors: 0 speaks de+tr, 1 speaks de+ar; both offer "short" and "long"."""
    app.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    return make_centre(counsellors=2)


@pytest.fixture
def monday():
    return next_working_day(0)


def page(client, url, status=200):
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html) or re.search(
        rf'value="([^"]*)"[^>]*name="{name}"', html
    )
    assert match, f"no field {name}"
    return match.group(1)


def book_through_pages(client, start: str, query: str = "", **over) -> str:
    """Open the form (with the week page's language arguments) and book; returns the token."""
    html = page(client, f"/centres/test/short/book?start={quote(start)}{query}")
    data = {
        "csrf_token": hidden(html, "csrf_token"),
        "nonce": hidden(html, "nonce"),
        "start": hidden(html, "start"),
        "name": "Ayşe Öztürk",
        "email": "ayse@example.org",
        "persons": "1",
        "consent": "y",
        "language": selected(html, "language"),
        "interpreter_language": selected(html, "interpreter_language"),
    }
    data.update(over)
    response = client.post("/centres/test/short/book", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)[:800]
    return response.headers["Location"].rsplit("/", 1)[1]


def selected(html: str, name: str) -> str:
    """The value a select sends, or the hidden field's when the form does not ask again."""
    found = re.search(rf'<select[^>]*name="{name}".*?</select>', html, re.S)
    if found is None:
        return hidden(html, name)
    select_html = found.group(0)
    match = re.search(
        r'<option selected value="([^"]*)"|<option value="([^"]*)" selected', select_html
    )
    return (match.group(1) or match.group(2)) if match else ""


def the_booking(app) -> Booking:
    with app.app_context():
        booking = db.session.scalar(select(Booking).order_by(Booking.id.desc()))
        db.session.expunge(booking)
        return booking


def counsellor_languages(app, booking_id: int) -> list[str]:
    with app.app_context():
        return db.session.get(Booking, booking_id).counsellor.languages


def mails(app, kind: str | None = None) -> list[str]:
    """The decoded text and HTML of each mail in the outbox (of one kind)."""
    with app.app_context():
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if kind:
            query = query.where(OutboxMessage.kind == kind)
        rows = db.session.scalars(query).all()
        found = []
        for row in rows:
            message = email.message_from_bytes(mail_of(app, row), policy=policy.default)
            parts = [
                part.get_content()
                for part in message.walk()
                if part.get_content_type() in ("text/plain", "text/html")
            ]
            found.append("\n".join(parts))
        return found


def away(app, counsellor_email: str, start, end) -> None:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == counsellor_email))
        db.session.add(Absence(user_id=user.id, start_at=start, end_at=end, note="Urlaub"))
        db.session.commit()


# --- the language, from the first choice to the mail ---------------------------------


def test_the_week_page_asks_the_language_first_offering_only_spoken_ones(client, centre):
    html = page(client, "/centres/test/short?lang=en")
    assert "In which language would you like the consultation?" in html
    assert 'class="slot"' not in html  # no times before the language is chosen
    choices = re.findall(r'class="language-choice[^"]*" href="[^"]*language=(\w+)"', html)
    assert sorted(choices) == ["ar", "de", "tr"]
    interpreter = re.search(r'<select id="interpreter".*?</select>', html, re.S).group(0)
    assert '<option value="ps">Pashto</option>' in interpreter  # shown by name
    for spoken in ("ar", "de", "tr"):
        assert f'value="{spoken}"' not in interpreter


def test_times_in_a_language_are_only_those_of_its_speakers(app, client, centre, monday):
    # The Arabic speaker is away on Monday morning; the Turkish speaker is free.
    start = datetime(monday.year, monday.month, monday.day, 8, tzinfo=BERLIN)
    away(app, "c1@test.example", start, start + timedelta(hours=4))
    week = f"/centres/test/short?week={monday.isoformat()}"
    arabic = page(client, f"{week}&language=ar")
    turkish = page(client, f"{week}&language=tr")
    assert f'datetime="{start.astimezone(UTC).isoformat()}"' not in arabic
    assert f'datetime="{start.astimezone(UTC).isoformat()}"' in turkish
    # The choice travels with the slot link to the form, where it is preselected.
    link = re.search(r'<a class="slot" href="([^"]+)"', arabic).group(1).replace("&amp;", "&")
    assert "language=ar" in link
    assert selected(page(client, link), "language") == "ar"


def test_arabic_is_never_booked_with_a_counsellor_who_does_not_speak_it(
    app, client, centre, monday, make_booking
):
    first = make_booking(at(monday, 10), centre="test", service="short", language="ar")
    assert "ar" in counsellor_languages(app, first.id)
    # Only the Turkish speaker is free at 10:00 now: a family asking for Arabic is not
    # silently given them, but shown the nearest times of an Arabic speaker.
    html = page(client, f"/centres/test/short/book?start={quote(at(monday, 10))}&language=ar", 409)
    assert "10:45" in html or "11:00" in html
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Booking)) == 1


def test_the_api_refuses_a_language_only_non_speakers_are_free_for(
    app, client, centre, monday, make_booking
):
    make_booking(at(monday, 10), centre="test", service="short", language="ar")
    payload = {
        "service": "short",
        "start": at(monday, 10),
        "name": "Omar",
        "email": "omar@example.org",
        "consent": True,
        "language": "ar",
    }
    response = client.post("/api/v1/centres/test/bookings", json=payload)
    assert response.status_code == 409
    assert response.get_json()["type"].endswith("slot-unavailable")
    # With an interpreter, the free Turkish speaker takes it and the need is recorded.
    response = client.post(
        "/api/v1/centres/test/bookings", json={**payload, "interpreter_language": "ar"}
    )
    assert response.status_code == 201, response.get_json()
    booking = the_booking(app)
    assert booking.interpreter_language == "ar"
    assert counsellor_languages(app, booking.id) == ["de", "tr"]


def test_language_shown_on_the_manage_page_and_in_the_mail(app, client, centre, monday):
    client.get("/?lang=en")
    token = book_through_pages(client, at(monday, 10), "&language=ar")
    booking = the_booking(app)
    assert booking.language == "ar" and booking.interpreter_language is None
    assert "ar" in counsellor_languages(app, booking.id)
    html = page(client, f"/b/{token}")
    assert re.search(r'class="consultation-language">Arabic<', html)
    (confirmation,) = mails(app, "confirmation")
    assert "Language: Arabic" in confirmation


def test_an_interpreter_is_recorded_and_shown(app, client, centre, monday):
    client.get("/?lang=en")
    week = page(client, f"/centres/test/short?week={monday.isoformat()}&interpreter=ps")
    assert "Consultation in Pashto, with an interpreter" in week
    link = re.search(r'<a class="slot" href="([^"]+)"', week).group(1).replace("&amp;", "&")
    assert "interpreter=ps" in link
    start = re.search(r"start=([^&]+)", link).group(1)
    token = book_through_pages(
        client,
        datetime.fromisoformat(start.replace("%3A", ":").replace("%2B", "+")).isoformat(),
        "&interpreter=ps",
    )
    booking = the_booking(app)
    assert booking.interpreter_language == "ps"
    html = page(client, f"/b/{token}")
    assert "Pashto, with an interpreter" in html
    assert "The centre arranges an interpreter for Pashto." in html
    (confirmation,) = mails(app, "confirmation")
    assert "Language: Pashto, with an interpreter" in confirmation


def test_a_language_nobody_speaks_leads_to_the_interpreter_choice(client, centre, monday):
    html = page(client, f"/centres/test/short?week={monday.isoformat()}&language=ps&lang=en")
    assert 'class="slot"' not in html
    assert "None of our counsellors for this consultation speaks Pashto" in html
    assert '<option value="ps" selected>' in html


# --- dead ends ------------------------------------------------------------------------


def test_no_free_time_in_the_whole_horizon_is_said_once_with_the_phone(app, client, centre):
    now = datetime.now(UTC)
    for i in (0, 1):
        away(app, f"c{i}@test.example", now - timedelta(days=1), now + timedelta(days=90))
    html = page(client, "/centres/test/short?language=de&lang=en")
    assert html.count('id="no-free-times"') == 1
    assert "There are no free times for this consultation in the next 56 days." in html
    assert 'href="tel:02325000"' in html
    assert 'class="day"' not in html and 'rel="next"' not in html


def test_an_empty_week_points_to_the_next_free_time(app, client, centre):
    today = berlin_today()
    monday = today - timedelta(days=today.weekday())
    until = datetime.combine(monday + timedelta(days=21), datetime.min.time(), BERLIN)
    for i in (0, 1):
        away(app, f"c{i}@test.example", datetime.now(UTC) - timedelta(days=1), until)
    html = page(client, f"/centres/test/short?week={monday.isoformat()}&language=de&lang=en")
    assert 'class="slot"' not in html
    link = re.search(r'id="next-free">[^<]*<a href="([^"]+)"', html).group(1)
    assert f"week={(monday + timedelta(days=21)).isoformat()}" in link
    assert "language=de" in link
    # Without a week asked for, the page opens on that week straight away.
    opened = page(client, "/centres/test/short?language=de")
    assert f'aria-labelledby="day-{(monday + timedelta(days=21)).isoformat()}"' in opened


def test_an_unknown_link_explains_and_gives_every_centres_phone(client, centre, make_centre):
    make_centre("other")
    response = client.get("/b/no-such-token-anymore?lang=en")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "This link no longer works" in html
    assert "Perhaps the appointment was moved by the centre" in html
    assert html.count('href="tel:02325000"') == 2  # one for each centre
    assert 'href="/find"' in html


def test_a_link_replaced_by_a_staff_move_is_explained(
    app, client, centre, monday, make_staff, make_booking
):
    from booking import bookings
    from booking.models import utcnow

    made = make_booking(at(monday, 10), centre="test", service="short")
    make_staff("empfang@test.example", "reception", "test")
    with app.test_request_context():
        booking = db.session.get(Booking, made.id)
        actor = db.session.scalar(select(User).where(User.email == "empfang@test.example"))
        bookings.staff_move(booking, datetime.fromisoformat(at(monday, 14)), actor, now=utcnow())
    html = page(client, f"/b/{made.token}?lang=en", 404)
    assert "This link no longer works" in html and "tel:" in html


def test_a_past_appointment_offers_no_calendar_and_a_new_booking(
    app, client, centre, monday, make_booking
):
    made = make_booking(at(monday, 10), centre="test", service="short")
    with app.app_context():
        booking = db.session.get(Booking, made.id)
        booking.start_at = datetime.now(UTC) - timedelta(days=2)
        booking.end_at = booking.start_at + timedelta(minutes=45)
        db.session.commit()
    html = page(client, f"/b/{made.token}?lang=en")
    assert 'id="add-to-calendar"' not in html and "invite.ics" not in html
    assert "This appointment is over." in html
    assert f'href="/b/{made.token}/move' not in html
    assert f'href="/b/{made.token}/cancel' not in html


def test_a_cancelled_appointment_offers_to_book_again(app, client, centre, monday, make_booking):
    made = make_booking(at(monday, 10), centre="test", service="short", language="tr")
    html = page(client, f"/b/{made.token}/cancel")
    client.post(f"/b/{made.token}/cancel", data={"csrf_token": hidden(html, "csrf_token")})
    html = page(client, f"/b/{made.token}?lang=en")
    link = re.search(r'id="book-again" href="([^"]+)"', html).group(1)
    assert link == "/centres/test/short?language=tr"
    assert 'id="add-to-calendar"' not in html
    assert 'class="slot"' in page(client, link)


# --- moving, with a confirmation step --------------------------------------------------


def test_choosing_a_new_time_asks_before_anything_changes(
    app, client, centre, monday, make_booking
):
    made = make_booking(at(monday, 10), centre="test", service="short")
    week = page(client, f"/b/{made.token}/move?lang=en")
    # The current time is marked, and is not a link.
    current = re.search(r'<span class="slot slot-current" id="current-time">(.*?)</span>', week)
    assert current and "10:00" in current.group(1)
    links = re.findall(r'<a class="slot" href="([^"]+)"', week)
    assert links and all("/move?start=" in link for link in links)

    confirm = page(client, f"/b/{made.token}/move?start={quote(at(monday, 14))}&lang=en")
    assert "Move the appointment?" in confirm
    assert "10:00" in re.search(r'id="move-from">(.*?)</dd>', confirm, re.S).group(1)
    assert "14:00" in re.search(r'id="move-to">(.*?)</dd>', confirm, re.S).group(1)
    with app.app_context():
        booking = db.session.get(Booking, made.id)
        assert booking.sequence == 0 and booking.start_at == datetime.fromisoformat(at(monday, 10))
    assert mails(app, "change") == []

    response = client.post(
        f"/b/{made.token}/move",
        data={"csrf_token": hidden(confirm, "csrf_token"), "start": hidden(confirm, "start")},
    )
    assert response.status_code == 303
    with app.app_context():
        assert db.session.get(Booking, made.id).start_at == datetime.fromisoformat(at(monday, 14))
    assert len(mails(app, "change")) == 1


def test_a_time_no_longer_free_is_not_offered_for_confirmation(
    app, client, centre, monday, make_booking
):
    made = make_booking(at(monday, 10), centre="test", service="short")
    for _ in range(2):
        make_booking(at(monday, 14), centre="test", service="short")
    html = page(client, f"/b/{made.token}/move?start={quote(at(monday, 14))}&lang=en")
    assert "Move the appointment?" not in html
    assert "This time is no longer free." in html


# --- the centre cancels -----------------------------------------------------------------


def staff_cancel(app, booking_id: int) -> None:
    from booking import bookings
    from booking.models import utcnow

    with app.test_request_context():
        booking = db.session.get(Booking, booking_id)
        actor = db.session.scalar(select(User).where(User.role == "admin"))
        bookings.staff_cancel(booking, actor, now=utcnow())


def test_a_closure_cancellation_mail_gives_the_reason_apology_and_next_times(
    app, centre, monday, make_staff, make_booking
):
    make_staff("admin@test.example", "admin", "test")
    made = make_booking(at(monday, 10), centre="test", service="short", language="ar")
    with app.app_context():
        centre_row = db.session.scalar(select(Centre).where(Centre.slug == "test"))
        day = datetime(monday.year, monday.month, monday.day, tzinfo=BERLIN)
        db.session.add(
            Closure(
                centre_id=centre_row.id,
                start_at=day,
                end_at=day + timedelta(days=1),
                reason="Betriebsausflug",
            )
        )
        db.session.commit()
    staff_cancel(app, made.id)
    (mail,) = mails(app, "cancellation")
    assert "Betriebsausflug" in mail
    assert "es tut uns leid" in mail.lower()
    assert "/centres/test/short?language=ar" in mail
    # The next free times are listed (the closed Monday is not among them).
    assert re.search(r"\d\d:\d\d", mail.split("Betriebsausflug", 1)[1])


def test_an_absence_cancellation_says_the_counsellor_cannot_come(
    app, client, centre, monday, make_staff
):
    make_staff("admin@test.example", "admin", "test")
    client.get("/?lang=en")
    token = book_through_pages(client, at(monday, 10))
    booking = the_booking(app)
    with app.app_context():
        counsellor = db.session.get(Booking, booking.id).counsellor.email
    away(app, counsellor, booking.start_at, booking.end_at)
    staff_cancel(app, booking.id)
    (mail,) = mails(app, "cancellation")
    assert "We are sorry" in mail
    assert "your counsellor cannot be there at this time" in mail
    assert "next free times" in mail
    assert token


def test_a_family_cancelling_itself_gets_no_apology(app, client, centre, monday):
    client.get("/?lang=en")
    token = book_through_pages(client, at(monday, 10))
    html = page(client, f"/b/{token}/cancel")
    client.post(f"/b/{token}/cancel", data={"csrf_token": hidden(html, "csrf_token")})
    (mail,) = mails(app, "cancellation")
    assert "sorry" not in mail.lower()
    assert "Your appointment has been cancelled" in mail


# --- find my booking ----------------------------------------------------------------------


def find(client, reference: str, address: str):
    html = page(client, "/find")
    return client.post(
        "/find",
        data={"csrf_token": hidden(html, "csrf_token"), "reference": reference, "email": address},
    )


def test_find_my_booking_mails_a_new_link_and_shows_nothing(
    app, client, centre, monday, make_booking
):
    made = make_booking(at(monday, 10), centre="test", service="short", email="Omar@Example.org")
    found = find(client, made.reference.lower().replace("-", ""), "omar@example.org")
    unknown = find(client, "ABCD-EFGH", "omar@example.org")
    wrong_mail = find(client, made.reference, "someone@example.org")
    assert found.status_code == unknown.status_code == wrong_mail.status_code == 200
    bodies = {r.get_data(as_text=True) for r in (found, unknown, wrong_mail)}
    assert len(bodies) == 1  # the same answer whether found or not
    assert "/b/" not in bodies.pop()
    assert client.get(f"/b/{made.token}").status_code == 200  # until the worker answers
    assert answer_find_requests(app) == 3
    (mail,) = mails(app, "manage_link")
    new_link = re.search(r"http://[^\s\"<]+/b/([\w-]+)", mail).group(1)
    assert page(client, f"/b/{new_link}")
    assert client.get(f"/b/{made.token}").status_code == 404  # the old link is replaced


def test_find_my_booking_checks_its_fields(app, client, centre):
    response = find(client, "K7PQ", "not an address")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="reference-error"' in html and 'id="email-error"' in html
    empty = find(client, "", "")
    assert empty.status_code == 422
    html = empty.get_data(as_text=True)
    assert 'id="email-error"' in html and 'id="reference-error"' not in html
    assert mails(app) == []


def test_the_e_mail_address_alone_finds_every_upcoming_booking(
    app, client, centre, monday, make_booking
):
    """A family that lost the mail has no reference: the address is enough. The page
    answers the same whether the address matched; past and cancelled bookings get no link."""
    first = make_booking(at(monday, 10), centre="test", service="short", email="Omar@Example.org")
    second = make_booking(at(monday, 12), centre="test", service="short", email="omar@example.org")
    cancelled = make_booking(
        at(monday, 14), centre="test", service="short", email="omar@example.org"
    )
    with app.app_context():
        db.session.get(Booking, cancelled.id).status = "cancelled"
        db.session.commit()
    found = find(client, "", "omar@example.org")
    unknown = find(client, "", "nobody@example.org")
    assert found.status_code == unknown.status_code == 200
    assert found.get_data(as_text=True) == unknown.get_data(as_text=True)
    answer_find_requests(app)
    sent = mails(app, "manage_link")
    assert len(sent) == 2
    links = {re.search(r"http://[^\s\"<]+/b/([\w-]+)", m).group(1) for m in sent}
    for link in links:
        assert page(client, f"/b/{link}")
    for old in (first.token, second.token):
        assert client.get(f"/b/{old}").status_code == 404


def test_find_my_booking_is_linked_at_the_top_of_every_public_page(seeded, client):
    """Not only in the footer, 2,800 px down on a phone: in the header, before the
    language list and the page's content."""
    for url in ("/", "/centres/herne", "/centres/herne/beratung-1", "/privacy", "/b/unknown"):
        html = client.get(url).get_data(as_text=True)
        header = html.split("</header>")[0]
        assert 'href="/find" id="find-my-booking"' in header, url
    assert 'id="find-my-booking"' not in page(client, "/find")


def test_find_my_booking_is_rate_limited(database_url, tmp_path):
    from booking import create_app
    from booking.config import TestConfig

    app = create_app(
        TestConfig,
        instance_path=str(tmp_path / "instance"),
        SQLALCHEMY_DATABASE_URI=database_url,
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI="memory://",
    )
    client = app.test_client()
    # Per client: 5 a minute, whatever was typed.
    statuses = [
        find(client, f"ABCD-{c * 4}", f"{c.lower()}@example.org").status_code for c in "EFGHJK"
    ]
    assert statuses == [200] * 5 + [429]
    # Per reference and per address too, whichever client asks: test_rate_limit.py.


def test_finding_by_e_mail_alone_shares_no_limit_between_families(database_url, tmp_path):
    """Without a reference there is no per-reference count: four families asking by their
    own addresses alone (from different clients) are not stopped by each other."""
    from booking import create_app
    from booking.config import TestConfig

    app = create_app(
        TestConfig,
        instance_path=str(tmp_path / "instance"),
        SQLALCHEMY_DATABASE_URI=database_url,
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI="memory://",
    )
    statuses = []
    for number in range(5):
        client = app.test_client()
        html = page(client, "/find")
        statuses.append(
            client.post(
                "/find",
                data={
                    "csrf_token": hidden(html, "csrf_token"),
                    "reference": "",
                    "email": f"family{number}@example.org",
                },
                environ_base={"REMOTE_ADDR": f"192.0.2.{number + 1}"},
            ).status_code
        )
    assert statuses == [200] * 5


# --- services and legal pages -------------------------------------------------------------


def test_service_format_description_and_what_to_bring_are_shown(app, client, centre, monday):
    with app.app_context():
        service = db.session.scalar(select(Service).where(Service.slug == "short"))
        service.format = "phone"
        service.descriptions = {"de": "Worum es geht.", "en": "What it is about."}
        service.what_to_bring = {"de": "Ihren Ausweis.", "en": "Your passport."}
        db.session.commit()
    client.get("/?lang=en")
    for url in ("/centres/test", "/centres/test/short"):
        html = page(client, url)
        assert "What it is about." in html and "Your passport." in html and "By phone" in html
    book_through_pages(client, at(monday, 10))
    (confirmation,) = mails(app, "confirmation")
    assert "Format: By phone" in confirmation and "Your passport." in confirmation


def test_legal_pages_are_linked_from_every_public_page(seeded, client):
    for url in ("/", "/centres/herne", "/centres/herne/beratung-1", "/find", "/privacy"):
        html = page(client, url)
        for target in ("/impressum", "/privacy", "/accessibility", "/find"):
            assert f'href="{target}"' in html, (url, target)


def test_legal_pages_come_from_the_centres_settings(seeded, client):
    impressum = page(client, "/impressum")
    assert "Stadt Herne" in impressum and "Kreis Heinsberg" in impressum
    assert "Leitung des Integrationszentrums (Demo)" in impressum
    statement = page(client, "/accessibility")
    assert "BITV 2.0" in statement
    assert "Schlichtungsstelle nach § 16 BGG" in statement
    assert "integrationszentrum@herne.example" in statement  # the feedback contact
    privacy = page(client, "/privacy")
    assert "Stadt Herne" in privacy


def test_admins_edit_the_legal_details(app, client, centre, make_staff, sign_in):
    make_staff("admin@test.example", "admin", "test")
    sign_in(client, "admin@test.example")
    form = page(client, "/admin/centres/test/legal")
    data = {
        "csrf_token": hidden(form, "csrf_token"),
        "legal_operator": "Stadt Teststadt\nDer Bürgermeister",
        "responsible_person": "Erika Muster",
        "contact_email": "not-an-address",
        "accessibility_contact": "barrierefrei@test.example",
    }
    response = client.post("/admin/centres/test/legal", data=data)
    assert response.status_code == 422
    assert 'id="contact_email-error"' in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Centre.legal_operator).where(Centre.slug == "test")) == ""
    response = client.post(
        "/admin/centres/test/legal", data={**data, "contact_email": "recht@test.example"}
    )
    assert response.status_code == 303
    impressum = page(client, "/impressum")
    assert "Stadt Teststadt\nDer Bürgermeister" in impressum and "Erika Muster" in impressum
    assert "barrierefrei@test.example" in page(client, "/accessibility")


def test_admins_set_a_services_format_and_texts(app, client, centre, make_staff, sign_in):
    make_staff("admin@test.example", "admin", "test")
    sign_in(client, "admin@test.example")
    with app.app_context():
        service_id = db.session.scalar(select(Service.id).where(Service.slug == "short"))
    url = f"/admin/centres/test/services/{service_id}"
    form = page(client, url)
    data = {
        "csrf_token": hidden(form, "csrf_token"),
        "slug": "short",
        "name_de": "Kurz",
        "duration_minutes": "45",
        "online_bookable": "y",
        "is_active": "y",
        "format": "teleport",
        "description_de": "Eine kurze Beratung.",
        "what_to_bring_de": "Briefe vom Amt.",
    }
    response = client.post(url, data=data)
    assert response.status_code == 422
    assert 'id="format-error"' in response.get_data(as_text=True)
    response = client.post(url, data={**data, "format": "video"})
    assert response.status_code == 303
    html = page(client, "/centres/test")
    assert "Eine kurze Beratung." in html and "Briefe vom Amt." in html


def test_an_interpreter_language_outside_the_common_list_is_kept(app, client, centre, monday):
    week = page(client, f"/centres/test/short?week={monday.isoformat()}&language=ja")
    assert '<option value="ja" selected>' in week
    book_through_pages(client, at(monday, 10), "&interpreter=ja")
    assert the_booking(app).interpreter_language == "ja"
