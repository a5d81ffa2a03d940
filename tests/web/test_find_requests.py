""" "Find my booking" does the same work for a match and a miss (issue 22, item 7): the page
queues a request; the outbox worker looks the booking up, renews the link and mails it."""

from __future__ import annotations

import email
import re
from contextlib import contextmanager
from datetime import timedelta
from email import policy
from html import unescape

import pytest
from sqlalchemy import event, func, select

from booking.extensions import db
from booking.models import Booking, FindRequest, OutboxMessage, utcnow
from tests.conftest import csrf_from
from tests.helpers import answer_find_requests, at, mail_of, next_working_day

pytestmark = pytest.mark.backends("sqlite", "pg")


@pytest.fixture
def monday():
    return next_working_day(0)


@pytest.fixture
def booked(app, make_centre, make_booking, monday):
    """A booking of omar@example.org, made in Turkish."""
    app.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    make_centre()
    made = make_booking(at(monday, 10), centre="test", service="short", email="Omar@Example.org")
    with app.app_context():
        db.session.get(Booking, made.id).locale = "tr"
        db.session.commit()
    return made


def find(client, reference: str, address: str, **environ):
    token = csrf_from(client.get("/find").get_data(as_text=True))
    return client.post(
        "/find",
        data={"csrf_token": token, "reference": reference, "email": address},
        environ_base=environ,
    )


@contextmanager
def statements_of(app):
    """Every SQL statement the app's engine runs inside the block, in order."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def posted(app, client, reference: str, address: str) -> tuple[list[str], str]:
    """The statements one /find request runs, and its page."""
    csrf = csrf_from(client.get("/find").get_data(as_text=True))
    with statements_of(app) as seen:
        response = client.post(
            "/find", data={"csrf_token": csrf, "reference": reference, "email": address}
        )
    assert response.status_code == 200
    return list(seen), response.get_data(as_text=True)


def rows(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def manage_mails(app) -> list[email.message.EmailMessage]:
    with app.app_context():
        found = db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.kind == "manage_link")
            .order_by(OutboxMessage.id)
        ).all()
        return [email.message_from_bytes(mail_of(app, r), policy=policy.default) for r in found]


def link_in(message) -> str:
    text = next(p for p in message.walk() if p.get_content_type() == "text/plain").get_content()
    return re.search(r"(https?://[^\s\"<]+)/b/([\w-]+)", text).group(0)


def test_the_request_runs_the_same_statements_for_a_match_and_a_miss(app, client, booked):
    """Timing told a match (36 ms) from a miss (13 ms): the request looked the booking up
    and renewed it. Now it writes one queued row either way and reads no booking."""
    match, match_page = posted(app, client, booked.reference, "omar@example.org")
    miss, miss_page = posted(app, client, "ABCD-EFGH", "omar@example.org")
    wrong_address, _ = posted(app, client, booked.reference, "nobody@example.org")
    assert match == miss == wrong_address
    assert match_page == miss_page
    by_address, _ = posted(app, client, "", "omar@example.org")
    unknown_address, _ = posted(app, client, "", "nobody@example.org")
    assert by_address == unknown_address
    for statements in (match, by_address):
        writes = [s for s in statements if s.lstrip().upper().startswith("INSERT")]
        assert len(writes) == 1 and "find_request" in writes[0], statements
        assert not any(re.search(r"\bbooking\b", s) for s in statements), statements
    # Nothing is renewed or mailed before the worker answers.
    assert rows(app, FindRequest) == 5
    assert manage_mails(app) == []
    assert client.get(f"/b/{booked.token}").status_code == 200


@pytest.mark.parametrize(
    ("lang", "promise"),
    [
        (
            "de",
            "Danke. Wenn es für diese E-Mail-Adresse einen kommenden Termin gibt, kommt der "
            "Link dazu in den nächsten Minuten per E-Mail an diese Adresse.",
        ),
        (
            "ar",
            "شكرًا لكم. إذا كان لدينا موعد قادم بعنوان البريد الإلكتروني هذا، فسيصل رابطه "
            "إلى هذا العنوان بالبريد الإلكتروني خلال الدقائق القليلة القادمة.",
        ),
        (
            "en",
            "Thank you. If we have an upcoming appointment for this e-mail address, the link "
            "to it will come to that address by e-mail within the next few minutes.",
        ),
    ],
)
def test_the_page_says_the_link_comes_by_mail_soon_for_a_match_and_a_miss(
    client, booked, lang, promise
):
    """The worker sends the mail seconds to minutes later: the page promises no mail that
    was already sent, and says the same whether the address is known."""
    client.get(f"/find?lang={lang}")
    match = find(client, booked.reference, "omar@example.org")
    miss = find(client, "", "nobody@example.org")
    assert match.status_code == miss.status_code == 200
    pages = [r.get_data(as_text=True) for r in (match, miss)]
    assert pages[0] == pages[1]
    sent = re.search(r'<div[^>]*id="find-sent">(.*?)</div>', pages[0], re.S).group(1)
    assert promise in " ".join(unescape(sent).split())
    assert "spam" in sent.lower()  # the next paragraph: look in the spam folder
    if lang == "ar":
        assert '<html lang="ar" dir="rtl">' in pages[0]


def test_the_worker_mails_a_match_once_in_its_language_and_a_miss_never(app, client, booked):
    for reference, address in [
        (booked.reference.lower().replace("-", ""), "OMAR@example.org"),  # the match
        ("ABCD-EFGH", "omar@example.org"),  # an unknown reference
        (booked.reference, "nobody@example.org"),  # another address
        ("", "nobody@example.org"),  # an unknown address alone
    ]:
        assert find(client, reference, address).status_code == 200
    assert client.get(f"/b/{booked.token}").status_code == 200  # not renewed yet
    assert answer_find_requests(app) == 4
    assert rows(app, FindRequest) == 0
    (mail,) = manage_mails(app)
    assert mail["To"].addresses[0].addr_spec == "Omar@Example.org"
    assert mail["Content-Language"] == "tr"
    link = link_in(mail)
    assert client.get(f"/b/{booked.token}").status_code == 404  # renewed by the worker
    assert client.get(link.split("localhost", 1)[1]).status_code == 200
    # Nothing is left to answer: a second round mails nothing.
    assert answer_find_requests(app) == 0
    assert len(manage_mails(app)) == 1


def test_a_request_asked_twice_before_the_worker_comes_is_mailed_once(app, client, booked):
    for _ in range(2):
        find(client, booked.reference, "omar@example.org")
    assert answer_find_requests(app) == 2
    (mail,) = manage_mails(app)
    assert client.get(link_in(mail).split("localhost", 1)[1]).status_code == 200


def test_the_address_alone_mails_each_upcoming_booking(app, client, booked, make_booking, monday):
    second = make_booking(at(monday, 12), centre="test", service="short", email="omar@example.org")
    past_or_cancelled = make_booking(
        at(monday, 14), centre="test", service="short", email="omar@example.org"
    )
    with app.app_context():
        db.session.get(Booking, past_or_cancelled.id).status = "cancelled"
        db.session.commit()
    find(client, "", "omar@example.org")
    answer_find_requests(app)
    mailed = manage_mails(app)
    assert len(mailed) == 2
    for message in mailed:
        assert client.get(link_in(message).split("localhost", 1)[1]).status_code == 200
    for old in (booked.token, second.token):
        assert client.get(f"/b/{old}").status_code == 404
    assert client.get(f"/b/{past_or_cancelled.token}").status_code == 200


def test_the_cli_answers_requests_and_links_take_the_configured_host(app, client, booked):
    """`flask outbox send` answers the queue; the link is built from SERVER_NAME, never
    from the Host a request came with."""
    app.config.update(SERVER_NAME="termine.example.org", PREFERRED_URL_SCHEME="https")
    response = find(
        client,
        booked.reference,
        "omar@example.org",
        HTTP_HOST="termine.example.org",
        HTTP_X_FORWARDED_HOST="evil.example",
    )
    assert response.status_code == 200
    result = app.test_cli_runner().invoke(args=["outbox", "send"])
    assert "0 failed; 1 link requests answered" in result.output, result.output
    (mail,) = manage_mails(app)
    assert link_in(mail).startswith("https://termine.example.org/b/")


def test_the_worker_loop_answers_requests(app, client, booked):
    from booking import find_requests, outbox

    find(client, booked.reference, "omar@example.org")
    with app.app_context():
        outbox.work(app, poll_seconds=0, max_rounds=1, before_sending=find_requests.resolve_pending)
    (mail,) = manage_mails(app)
    with app.app_context():
        states = db.session.scalars(
            select(OutboxMessage.state).where(OutboxMessage.kind == "manage_link")
        )
        assert list(states) == ["sent"]
    assert rows(app, FindRequest) == 0


def test_retention_deletes_requests_no_worker_answered(app, client, booked):
    from booking.retention import purge

    find(client, booked.reference, "omar@example.org")
    days = app.config["RETENTION_DAYS"]
    with app.app_context():
        assert purge(utcnow() + timedelta(days=days - 1), days).find_requests == 0
    assert rows(app, FindRequest) == 1
    with app.app_context():
        assert purge(utcnow() + timedelta(days=days + 1), days).find_requests == 1
    assert rows(app, FindRequest) == 0
    assert answer_find_requests(app) == 0
    assert manage_mails(app) == []


def test_only_keyed_hashes_of_address_and_reference_are_stored(app, client, booked):
    find(client, booked.reference, "omar@example.org")
    find(client, "", "nobody@example.org")
    with app.app_context():
        stored = db.session.execute(
            select(FindRequest.email_hash, FindRequest.reference_hash).order_by(FindRequest.id)
        ).all()
    (first_address, reference), (second_address, no_reference) = stored
    for value in (first_address, reference, second_address):
        assert re.fullmatch(r"[0-9a-f]{64}", value)
    assert no_reference is None and first_address != second_address
