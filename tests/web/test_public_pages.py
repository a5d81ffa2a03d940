"""The public pages: centres, services, the week of free slots; German first, English too."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tests.helpers import BERLIN, berlin_today, next_working_day


def page(client, url, **kwargs):
    response = client.get(url, **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def test_index_lists_both_centres_with_address_phone_and_hours(seeded, client):
    html = page(client, "/")
    assert '<html lang="de" dir="ltr">' in html
    assert "Kommunales Integrationszentrum Herne" in html
    assert "Kommunales Integrationszentrum Kreis Heinsberg" in html
    assert "Rademachers Weg 15, 44649 Herne" in html
    assert "02325 6589-313" in html and "02452 13-4222" in html
    assert "08:00–13:00" in html  # Herne on Fridays
    assert "08:30–12:00, 14:00–17:00" in html  # Heinsberg on Tuesdays and Thursdays
    assert "Freitag" in html  # weekday names in German


def test_index_in_english(seeded, client):
    html = page(client, "/?lang=en")
    assert '<html lang="en" dir="ltr">' in html
    assert "Friday" in html and "Opening hours" in html
    # The choice is kept for the next page.
    assert "Friday" in page(client, "/")


def test_german_is_the_default_and_strings_are_translated(seeded, client):
    html = page(client, "/", headers={"Accept-Language": "fr"})
    assert "Öffnungszeiten" in html
    assert "Opening hours" not in html


def test_centre_page_lists_its_services_with_links(seeded, client):
    html = page(client, "/centres/herne")
    assert "Beratung zu Erziehungsfragen und psychosozialen Konflikten" in html
    assert "/centres/herne/beratung-2" in html
    assert "60 Minuten" in html


def test_unknown_centre_is_an_html_404(seeded, client):
    response = client.get("/centres/nowhere")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Seite nicht gefunden" in response.get_data(as_text=True)


def times_on(html: str, day) -> list[str]:
    section = re.search(
        rf'<section class="day" aria-labelledby="day-{day.isoformat()}">(.*?)</section>',
        html,
        re.S,
    )
    assert section, f"no section for {day}"
    return re.findall(r"<time datetime=\"[^\"]+\">(\d\d:\d\d)</time>", section.group(1))


def test_week_view_herne_friday_ends_by_13(seeded, client):
    friday = next_working_day(4)
    html = page(client, f"/centres/herne/beratung-2?week={friday.isoformat()}&language=de")
    times = times_on(html, friday)
    assert times[0] == "08:00" and times[-1] == "12:00"


def test_week_view_heinsberg_tuesday_has_two_blocks(seeded, client):
    tuesday = next_working_day(1)
    html = page(
        client, f"/centres/kreis-heinsberg/beratung-1?week={tuesday.isoformat()}&language=de"
    )
    times = times_on(html, tuesday)
    assert "08:30" in times and "11:00" in times and "14:00" in times and "16:00" in times
    assert "12:30" not in times and "13:00" not in times


def test_week_navigation_previous_and_next(seeded, client):
    monday = berlin_today() - timedelta(days=berlin_today().weekday())
    html = page(client, f"/centres/herne/beratung-1?week={monday.isoformat()}&language=de")
    assert 'rel="prev"' not in html  # nothing before this week
    next_week = (monday + timedelta(days=7)).isoformat()
    assert f"week={next_week}" in html
    html = page(client, f"/centres/herne/beratung-1?week={next_week}&language=de")
    assert 'rel="prev"' in html


def test_default_week_is_the_week_of_the_next_free_time(seeded, client):
    today = berlin_today()
    slots = client.get(
        "/api/v1/centres/herne/slots",
        query_string={
            "service": "beratung-1",
            "from": today.isoformat(),
            "to": (today + timedelta(days=28)).isoformat(),
        },
    )
    first = datetime.fromisoformat(slots.get_json()["slots"][0]["start"]).astimezone(BERLIN)
    first_monday = first.date() - timedelta(days=first.weekday())
    html = page(client, "/centres/herne/beratung-1?language=de")
    # On a Saturday the current week is over: the page opens on the next week instead.
    assert f'aria-labelledby="day-{first_monday.isoformat()}"' in html
    assert f'<time datetime="{first.astimezone(UTC).isoformat()}">' in html
    this_monday = today - timedelta(days=today.weekday())
    assert ('rel="prev"' in html) == (first_monday > this_monday)


def test_week_view_language_filter(seeded, client):
    monday = next_working_day(0)
    html = page(client, f"/centres/herne/beratung-3?week={monday.isoformat()}&language=ar")
    assert "Beratung auf Arabisch" in html
    assert "language=ar" in re.search(r'<a class="slot" href="([^"]+)"', html).group(1)
    # Nobody speaks Japanese: no times, but the interpreter step with Japanese chosen.
    nobody = page(client, f"/centres/herne/beratung-3?week={monday.isoformat()}&language=ja")
    assert 'class="slot"' not in nobody
    assert '<option value="ja" selected>' in nobody


def test_week_view_works_without_javascript(seeded, client):
    html = page(client, "/centres/herne/beratung-1")
    assert "<script" not in html


def test_pages_have_bounded_query_counts(seeded, client):
    for url in ("/", "/centres/herne", "/centres/herne/beratung-1"):
        response = client.get(url)
        assert int(response.headers["X-Query-Count"]) <= 11, url
