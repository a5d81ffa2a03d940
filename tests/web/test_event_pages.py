"""The public event pages: lists with a filter, an event with its form, the manage page."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from booking.extensions import db
from booking.models import Registration
from tests.conftest import csrf_from
from tests.events_helpers import make_event


def form_data(html: str, **over) -> dict:
    data = {
        "csrf_token": csrf_from(html),
        "name": "Noor Al-Sayed",
        "email": "noor@example.org",
        "persons": "2",
        "language": "ar",
        "consent": "y",
    }
    data.update(over)
    return data


@pytest.mark.backends("sqlite")
def test_lists_filter_by_audience_and_show_seats(app, client, make_centre, db_backend):
    make_centre()
    make_event(app, title="Elterncafé", audience="families", seats=12)
    make_event(
        app, title="Fortbildung Schule", audience="professionals", seats=1, waiting_list=True
    )
    page = client.get("/centres/test/events").get_data(as_text=True)
    assert "Elterncafé" in page and "Fortbildung Schule" in page
    assert "12" in page
    families = client.get("/events?audience=families").get_data(as_text=True)
    assert "Elterncafé" in families and "Fortbildung Schule" not in families
    assert client.get("/centres/nowhere/events").status_code == 404
    assert "/centres/test/events" in client.get("/centres/test").get_data(as_text=True)


@pytest.mark.backends("sqlite")
def test_register_by_form_then_cancel_on_the_manage_page(app, client, make_centre, db_backend):
    make_centre()
    event_id = make_event(app, seats=3, audience="families")
    url = f"/centres/test/events/{event_id}"
    page = client.get(url + "?lang=ar").get_data(as_text=True)
    assert 'dir="rtl"' in page
    assert 'name="organisation"' not in page  # families are not asked for one
    response = client.post(url, data=form_data(page))
    assert response.status_code == 303
    manage = response.headers["Location"]
    assert re.fullmatch(r".*/r/[A-Za-z0-9_-]{40,}", manage)
    shown = client.get(manage).get_data(as_text=True)
    assert "Noor Al-Sayed" in shown
    assert client.get(manage).headers["Cache-Control"] == "no-store"
    # The same address again: a message at the field, nothing written.
    again = client.post(url, data=form_data(client.get(url).get_data(as_text=True)))
    assert again.status_code == 409
    assert 'id="email-error"' in again.get_data(as_text=True)
    # A GET of the cancel page changes nothing; the POST cancels.
    cancel_page = client.get(manage + "/cancel").get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Registration.status)) == "confirmed"
    assert (
        client.post(manage + "/cancel", data={"csrf_token": csrf_from(cancel_page)}).status_code
        == 303
    )
    with app.app_context():
        assert db.session.scalar(select(Registration.status)) == "cancelled"
    assert client.get("/r/not-a-token").status_code == 404


@pytest.mark.backends("sqlite")
def test_bad_form_input_shows_messages_at_the_fields(app, client, make_centre, db_backend):
    make_centre()
    event_id = make_event(app, audience="professionals")
    url = f"/centres/test/events/{event_id}"
    page = client.get(url).get_data(as_text=True)
    assert 'name="organisation"' in page
    response = client.post(url, data=form_data(page, persons="11", email="x", consent=""))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    for name in ("persons", "email", "consent"):
        assert f'id="{name}-error"' in html
    with app.app_context():
        assert db.session.scalar(select(Registration.id)) is None


@pytest.mark.backends("sqlite")
def test_the_manage_page_offers_this_registrations_invitation(app, client, make_centre, db_backend):
    make_centre()
    event_id = make_event(app)
    url = f"/centres/test/events/{event_id}"
    manage = client.post(url, data=form_data(client.get(url).get_data(as_text=True))).headers[
        "Location"
    ]
    ics = client.get(manage + "/invite.ics")
    assert ics.status_code == 200
    body = ics.get_data(as_text=True)
    assert "METHOD:REQUEST" in body and "registration-" in body
    assert body.count("ATTENDEE") == 1 and "noor@example.org" in body
