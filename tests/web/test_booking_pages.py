"""The HTML booking flow without JavaScript: form, errors next to fields, manage, cancel, move."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from booking.extensions import db
from booking.models import Booking, OutboxMessage
from tests.helpers import at, local, next_working_day


@pytest.fixture
def centre(app, make_centre):
    app.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    return make_centre()


@pytest.fixture
def monday():
    return next_working_day(0)


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html) or re.search(
        rf'value="([^"]*)"[^>]*name="{name}"', html
    )
    assert match, f"no hidden field {name}"
    return match.group(1)


def open_form(client, start):
    response = client.get(f"/centres/test/short/book?start={quote(start)}")
    assert response.status_code == 200, response.get_data(as_text=True)[:400]
    html = response.get_data(as_text=True)
    return {
        "csrf_token": hidden(html, "csrf_token"),
        "nonce": hidden(html, "nonce"),
        "start": hidden(html, "start"),
    }


def fields(**over):
    data = {"name": "Ayşe Öztürk", "email": "ayse@example.org", "persons": "1", "consent": "y"}
    data.update(over)
    return data


def count(app, model):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_week_links_lead_to_the_form_and_booking_redirects_to_manage_page(
    app, client, centre, monday
):
    week = client.get(f"/centres/test/short?week={monday.isoformat()}&language=de").get_data(
        as_text=True
    )
    link = re.search(r'<a class="slot" href="([^"]+)"', week).group(1).replace("&amp;", "&")
    form = client.get(link)
    assert form.status_code == 200
    start = at(monday, 10)
    posted = client.post("/centres/test/short/book", data={**open_form(client, start), **fields()})
    assert posted.status_code == 303
    manage = client.get(posted.headers["Location"])
    html = manage.get_data(as_text=True)
    assert manage.status_code == 200
    assert "Ayşe Öztürk" in html and "10:00" in html
    assert count(app, Booking) == 1


def test_errors_are_shown_next_to_each_field_and_input_is_kept(app, client, centre, monday):
    data = {
        **open_form(client, at(monday, 10)),
        **fields(name="", email="nope", consent="", phone="0171 2345"),
    }
    response = client.post("/centres/test/short/book", data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    for field in ("name", "email", "consent"):
        assert f'id="{field}-error"' in html, field
        assert re.search(rf'id="{field}"[^>]*aria-invalid="true"', html) or re.search(
            rf'aria-invalid="true"[^>]*id="{field}"', html
        ), field
        assert re.search(rf'aria-describedby="[^"]*{field}-error', html), field
    assert 'value="0171 2345"' in html  # nothing typed is lost
    assert count(app, Booking) == 0


def test_control_characters_in_the_name_are_refused_in_html_too(app, client, centre, monday):
    data = {**open_form(client, at(monday, 10)), **fields(name="Ayşe\r\nBcc: x@example.org")}
    response = client.post("/centres/test/short/book", data=data)
    assert response.status_code == 422
    assert 'id="name-error"' in response.get_data(as_text=True)
    assert count(app, OutboxMessage) == 0


def test_missing_csrf_token_books_nothing(app, client, centre, monday):
    data = {**open_form(client, at(monday, 10)), **fields()}
    data.pop("csrf_token")
    response = client.post("/centres/test/short/book", data=data)
    assert response.status_code == 400
    assert count(app, Booking) == 0


def test_double_submit_of_the_same_form_gives_one_booking_and_one_mail(app, client, centre, monday):
    data = {**open_form(client, at(monday, 10)), **fields()}
    first = client.post("/centres/test/short/book", data=data)
    second = client.post("/centres/test/short/book", data=data)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert count(app, Booking) == 1
    with app.app_context():
        kinds = list(db.session.scalars(select(OutboxMessage.kind)))
    assert kinds.count("confirmation") == 1


def test_a_time_just_taken_shows_the_nearest_free_times(app, client, centre, monday):
    mine = {**open_form(client, at(monday, 10)), **fields()}
    theirs = {**open_form(client, at(monday, 10)), **fields(email="other@example.org")}
    assert client.post("/centres/test/short/book", data=theirs).status_code == 303
    response = client.post("/centres/test/short/book", data=mine)
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert html.count('class="slot"') >= 3
    offered = {local(t) for t in re.findall(r'<a class="slot"[^>]*><time datetime="([^"]+)"', html)}
    # The neighbouring free times are offered (10:00–10:45 is taken: 11:00 is the next on
    # the 30-minute grid, 09:00 the one before), the taken one is not. Compared as instants:
    # a wall time is not a string of the page's UTC attribute.
    assert {local(at(monday, 11)), local(at(monday, 9))} <= offered
    assert local(at(monday, 10)) not in offered
    assert count(app, Booking) == 1


def book_one(client, start):
    posted = client.post("/centres/test/short/book", data={**open_form(client, start), **fields()})
    return posted.headers["Location"].rsplit("/", 1)[1]


def test_get_of_manage_and_cancel_pages_changes_nothing(app, client, centre, monday):
    token = book_one(client, at(monday, 10))
    for url in (f"/b/{token}", f"/b/{token}/cancel", f"/b/{token}/move", f"/b/{token}/invite.ics"):
        assert client.get(url).status_code == 200, url
    with app.app_context():
        booking = db.session.scalar(select(Booking))
        assert booking.status == "confirmed" and booking.sequence == 0


def test_cancel_by_post_with_csrf(app, client, centre, monday):
    token = book_one(client, at(monday, 10))
    page = client.get(f"/b/{token}/cancel").get_data(as_text=True)
    response = client.post(f"/b/{token}/cancel", data={"csrf_token": hidden(page, "csrf_token")})
    assert response.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(Booking)).status == "cancelled"


def test_move_by_post(app, client, centre, monday):
    token = book_one(client, at(monday, 10))
    page = client.get(f"/b/{token}/move?start={quote(at(monday, 14))}").get_data(as_text=True)
    response = client.post(
        f"/b/{token}/move", data={"csrf_token": hidden(page, "csrf_token"), "start": at(monday, 14)}
    )
    assert response.status_code == 303
    with app.app_context():
        booking = db.session.scalar(select(Booking))
        assert booking.start_at == local(at(monday, 14)) and booking.sequence == 1
    html = client.get(f"/b/{token}").get_data(as_text=True)
    assert "14:00" in html


def test_calendar_download_is_an_ics_file(app, client, centre, monday):
    from icalendar import Calendar

    token = book_one(client, at(monday, 10))
    response = client.get(f"/b/{token}/invite.ics")
    assert response.mimetype == "text/calendar"
    calendar = Calendar.from_ical(response.data)
    assert len(calendar.walk("VEVENT")) == 1


def test_unknown_token_is_404(client, centre):
    assert client.get("/b/unknown").status_code == 404


def test_responses_send_no_referrer(client, centre):
    assert client.get("/").headers.get("Referrer-Policy") == "no-referrer"


def test_eastern_arabic_and_persian_digits_are_read_as_digits(app, client, centre, monday):
    """A phone keyboard in Arabic or Persian types ٠١٧٦… and ۲: booked as 0176… and 2."""
    response = client.post(
        "/centres/test/short/book",
        data={
            **open_form(client, at(monday, 9)),
            **fields(phone="٠١٧٦ ١٢٣٤٥٦٧", persons="۲", email="omar@example.org"),
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    with app.app_context():
        booking = db.session.scalar(select(Booking))
        assert (booking.phone, booking.persons) == ("0176 1234567", 2)
        assert booking.phone_normalised == "+491761234567"
