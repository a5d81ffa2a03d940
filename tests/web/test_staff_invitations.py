"""The staff's invitations page: invite one family, a CSV list, withdraw, renew; the letter
with its QR code in the family's language and in German."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from booking.extensions import db
from booking.models import Invitation
from tests.conftest import csrf_from
from tests.web.test_invitations import CSV_LIST

pytestmark = pytest.mark.backends("sqlite", "pg")


@pytest.fixture
def reception(app, joint, make_staff, sign_in):
    make_staff("reception@joint.example", "reception", "joint")
    client = app.test_client()
    sign_in(client, "reception@joint.example")
    return client


def form_data(client, **over) -> dict:
    csrf = csrf_from(client.get("/staff/invitations").get_data(as_text=True))
    data = {
        "csrf_token": csrf,
        "centre": "joint",
        "service": "joint",
        "name": "Familie Haddad",
        "email": "",
        "phone": "0171 1234567",
        "language": "ar",
        "case_note": "Lina, 11",
        "expires_days": "14",
    }
    return data | over


def test_inviting_a_family_without_email_shows_the_link_once_and_the_letter(app, reception):
    response = reception.post("/staff/invitations", data=form_data(reception))
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    link = re.search(r"https?://[^\s<\"]+/i/([A-Za-z0-9_-]{40,})\?lang=ar", html)
    assert link
    arabic = re.search(r'<section class="letter-part" ([^>]*)id="letter-ar"', html)
    assert arabic and 'lang="ar"' in arabic.group(1) and 'dir="rtl"' in arabic.group(1)
    assert 'lang="de"' in html and "<svg" in html  # the German text and the QR code
    assert "02325 000" in html
    assert "Cache-Control" in response.headers and response.headers["Cache-Control"] == "no-store"
    with app.app_context():
        invitation = db.session.scalar(select(Invitation))
        assert invitation.email is None and invitation.language == "ar"
        assert link.group(1) not in invitation.token_hash  # only the hash is kept


def test_bad_input_is_named_next_to_the_field_and_nothing_is_written(app, reception):
    response = reception.post(
        "/staff/invitations", data=form_data(reception, name="", phone="", language="xx")
    )
    html = response.get_data(as_text=True)

    assert response.status_code == 422
    assert 'id="name-error"' in html and 'id="language-error"' in html
    with app.app_context():
        assert db.session.scalar(select(Invitation)) is None


def test_withdraw_and_renew_from_the_list(app, client, reception):
    made = reception.post("/staff/invitations", data=form_data(reception, email="h@example.org"))
    token = re.search(r"/i/([A-Za-z0-9_-]{40,})", made.get_data(as_text=True)).group(1)
    with app.app_context():
        invitation_id = db.session.scalar(select(Invitation.id))
    csrf = csrf_from(reception.get("/staff/invitations").get_data(as_text=True))

    withdrawn = reception.post(
        f"/staff/invitations/{invitation_id}/withdraw", data={"csrf_token": csrf}
    )
    assert withdrawn.status_code == 200
    assert 'data-status="withdrawn"' in withdrawn.get_data(as_text=True)
    assert client.get(f"/i/{token}?lang=ar").status_code == 410

    renewed = reception.post(f"/staff/invitations/{invitation_id}/renew", data={"csrf_token": csrf})
    new_token = re.search(r"/i/([A-Za-z0-9_-]{40,})", renewed.get_data(as_text=True)).group(1)
    assert new_token != token
    assert client.get(f"/i/{token}?lang=ar").status_code == 404  # the old link is gone
    assert client.get(f"/i/{new_token}?lang=ar").status_code == 200
    listed = reception.get("/staff/invitations?status=open").get_data(as_text=True)
    assert f'id="invitation-{invitation_id}" data-status="open"' in listed


def test_a_csv_upload_invites_good_rows_and_names_the_bad_ones(app, reception):
    csrf = csrf_from(reception.get("/staff/invitations").get_data(as_text=True))
    from io import BytesIO

    response = reception.post(
        "/staff/invitations/list",
        data={
            "csrf_token": csrf,
            "list-centre": "joint",
            "list-service": "joint",
            "list-file": (BytesIO(CSV_LIST.encode()), "list.csv"),
        },
        content_type="multipart/form-data",
    )
    html = response.get_data(as_text=True)

    assert response.status_code == 422  # some rows refused
    refused = re.search(r'id="refused-rows".*?</div>', html, re.S).group(0)
    assert re.findall(r"(?:Row|Zeile) (\d+)", refused) == ["4", "5", "6"]
    assert len(re.findall(r"/i/[A-Za-z0-9_-]{40,}", html)) == 2
    with app.app_context():
        assert db.session.scalars(select(Invitation.name).order_by(Invitation.id)).all() == [
            "Familie Haddad",
            "Familie Kovalenko",
        ]
