"""`make load`: mixed traffic against the production stack, then check that nothing was lost.

Starts its own PostgreSQL cluster (initdb into a temporary folder, a free port on 127.0.0.1;
never the shared one), 4 gunicorn workers (deploy/gunicorn.conf.py), 2 `outbox work`
processes, Redis rate-limit storage (LOAD_REDIS_URL, default redis://127.0.0.1:6379/14, that
database is emptied) with the limits raised, and an aiosmtpd server as MAIL_SERVER that records
every message it receives (mail.jsonl in the run's folder). Then two phases of LOAD_SECONDS
(default 60) each:

1. steady: families browsing weeks and slots, bookings racing for the same slots (API),
   cancellations and moves (API, manage pages), reception booking callers (staff form, CSRF);
2. the same, with one PostgreSQL restart (``pg_ctl restart -m fast``) at a third and one
   mail-server outage (stopped, started again on the same port) at two thirds of the phase.

After each phase, checked in SQL and at the sink: no 5xx (in phase 2 a 503 with Retry-After
while the database restarts); no two overlapping active bookings of one counsellor; every
booking, move and cancel the clients saw succeed is in the database; every confirmation,
change and cancellation in the outbox reached the sink exactly once and every mail at the
sink belongs to one; no due outbox row left pending. Prints p50/p95/p99 per route; exits 1
when a check fails. Every process it starts is stopped on exit, also on failure or Ctrl-C.
"""

from __future__ import annotations

import email
import glob
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email import policy
from pathlib import Path

import psycopg
import redis
import requests
from aiosmtpd.controller import Controller
from icalendar import Calendar

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SECONDS = float(os.environ.get("LOAD_SECONDS") or 60)
REDIS_URL = os.environ.get("LOAD_REDIS_URL") or "redis://127.0.0.1:6379/14"
WORKERS = 4
CENTRE = "herne"
# The reception account of README "Start".
RECEPTION, RECEPTION_PASSWORD = "empfang@herne.example", "Kompass-Tulpe-Laterne-42"
BROWSERS, BOOKERS, RECEPTIONISTS = 3, 3, 1
MAIL_KINDS = ("confirmation", "change", "cancellation")
# A 503 is accepted only for requests under way from this long before the restart began until
# this long after it ended.
RESTART_GRACE = 5.0
DRAIN_SECONDS = 90.0
# `make load-state` (``--state``): the scale of issue 21, every integration centre of NRW on
# one deployment: the two demo centres and 52 more, 10 counsellors each, a month of bookings
# (the 15 days before today and the 14 after) at about 2,000 a weekday across the state.
STATE_CENTRES, STATE_COUNSELLORS, STATE_PER_DAY = 54, 10, 2000
STATE_DAYS = range(-15, 15)
STATE_BROWSERS = 6
STATE_PLACES = (
    "Aachen", "Bielefeld", "Bochum", "Bonn", "Bottrop", "Dortmund", "Duisburg", "Düsseldorf",
    "Essen", "Gelsenkirchen", "Hagen", "Hamm", "Köln", "Krefeld", "Leverkusen",
    "Mönchengladbach", "Mülheim an der Ruhr", "Münster", "Oberhausen", "Remscheid", "Solingen",
    "Wuppertal", "Kreis Borken", "Kreis Coesfeld", "Kreis Düren", "Ennepe-Ruhr-Kreis",
    "Kreis Euskirchen", "Kreis Gütersloh", "Kreis Herford", "Hochsauerlandkreis",
    "Kreis Höxter", "Kreis Kleve", "Kreis Lippe", "Märkischer Kreis", "Kreis Mettmann",
    "Kreis Minden-Lübbecke", "Oberbergischer Kreis", "Kreis Olpe", "Kreis Paderborn",
    "Kreis Recklinghausen", "Rhein-Erft-Kreis", "Rhein-Kreis Neuss",
    "Rheinisch-Bergischer Kreis", "Rhein-Sieg-Kreis", "Kreis Siegen-Wittgenstein",
    "Kreis Soest", "Kreis Steinfurt", "Kreis Unna", "Kreis Viersen", "Kreis Warendorf",
    "Kreis Wesel", "Städteregion Aachen",
)  # fmt: skip


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(url: str, process: subprocess.Popen, seconds: float = 60):
    """Poll ``url`` until it answers 200 (all workers booted and the database reachable)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            response = requests.get(url, timeout=30)
        except requests.RequestException:  # not listening yet, or a worker still booting
            response = None
        if response is not None and response.status_code == 200:
            return response
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer 200 within {seconds:.0f} s")


# --- the parts --------------------------------------------------------------------------


class Postgres:
    """A throw-away cluster of our own, run as the postgres OS user when we are root."""

    def __init__(self, folder: Path):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[4]))
        if not bins:
            raise RuntimeError("PostgreSQL server binaries not found in /usr/lib/postgresql")
        self.bin = Path(bins[-1])
        self.folder = folder / "pg"
        self.folder.mkdir()
        self.data = self.folder / "data"
        self.port = free_port()
        self.as_owner: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            shutil.chown(self.folder, "postgres", "postgres")
            self.as_owner = ["runuser", "-u", "postgres", "--"]
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self.dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"
        self.started = False

    def _ctl(self, *args: str, timeout: float = 60) -> None:
        # The server writes to its log file, never to our pipes: pg_ctl returns once it is up.
        with (self.folder / "pg_ctl.log").open("a") as out:
            subprocess.run(
                [*self.as_owner, str(self.bin / "pg_ctl"), "-D", str(self.data), *args],
                check=True,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            )

    def start(self) -> None:
        subprocess.run(
            [*self.as_owner, str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres"]
            + ["-A", "trust", "-E", "UTF8", "--no-sync"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        options = f"-p {self.port} -h 127.0.0.1 -k {self.folder} -c max_connections=100"
        self._ctl("start", "-w", "-t", "60", "-l", str(self.folder / "log"), "-o", options)
        self.started = True
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")

    def restart(self) -> None:
        self._ctl("restart", "-m", "fast", "-w", "-t", "60", "-l", str(self.folder / "log"))

    def stop(self) -> None:
        if self.started:
            self._ctl("stop", "-m", "fast", "-w", "-t", "30")
            self.started = False


class Sink:
    """aiosmtpd handler: every message it accepts is kept and appended to mail.jsonl."""

    def __init__(self, path: Path):
        self.path = path
        self.lock = threading.Lock()
        self.messages: list[dict] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        record = {
            "message_id": (message["Message-ID"] or "").strip().strip("<>"),
            "to": envelope.rcpt_tos,
            "at": time.time(),
        }
        for part in message.walk():
            if part.get_content_type() == "text/calendar":
                calendar = Calendar.from_ical(part.get_payload(decode=True))
                event = next(iter(calendar.walk("VEVENT")))
                record.update(
                    method=str(calendar["METHOD"]),
                    uid=str(event["UID"]),
                    sequence=int(event.get("SEQUENCE", 0)),
                )
        with self.lock:
            self.messages.append(record)
            with self.path.open("a") as out:
                out.write(json.dumps(record) + "\n")
        return "250 Message accepted for delivery"


class MailServer:
    def __init__(self, sink: Sink):
        self.sink, self.port, self.controller = sink, free_port(), None

    def start(self) -> None:
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@dataclass
class Stack:
    folder: Path
    env: dict[str, str]
    base: str
    processes: list[subprocess.Popen] = field(default_factory=list)

    def flask(self, *args: str, stdin: str | None = None) -> None:
        """An operator's command; its output goes to flask.log in the run's folder."""
        with (self.folder / "flask.log").open("a") as out:
            done = subprocess.run(
                [str(BIN / "flask"), "--app", "wsgi", *args],
                cwd=ROOT, env=self.env, input=stdin, text=True, timeout=300,
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"flask {' '.join(args)} failed, see {self.folder}/flask.log")

    def start(self, name: str, args: list[str]) -> subprocess.Popen:
        with (self.folder / f"{name}.log").open("w") as out:
            # Its own process group, so stopping it stops gunicorn's workers too.
            process = subprocess.Popen(
                args, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


# --- traffic ------------------------------------------------------------------------------


@dataclass
class Record:
    route: str
    status: int
    ms: float
    started: float
    retry_after: bool


@dataclass
class Shared:
    base: str
    services: list[str]
    stop: threading.Event
    lock: threading.Lock = field(default_factory=threading.Lock)
    records: list[Record] = field(default_factory=list)
    # What the clients saw succeed: ("confirmation"|"change"|"cancellation", reference, start)
    done: list[tuple[str, str, str]] = field(default_factory=list)
    intakes: list[str] = field(default_factory=list)
    # Bookings a move or cancel of which had no clear answer (503, none): either outcome is
    # right, so only their existence is checked.
    uncertain: set[str] = field(default_factory=set)
    hot_day: int = 1
    # The centres families browse and book at (`make load`: Herne; `make load-state`: all).
    centres: list[str] = field(default_factory=lambda: [CENTRE])

    def call(self, session: requests.Session, route: str, method: str, url: str, **kwargs):
        started = time.monotonic()
        try:
            response = session.request(
                method, self.base + url, timeout=30, allow_redirects=False, **kwargs
            )
        except requests.RequestException:
            status, response = 0, None
        else:
            status = response.status_code
        with self.lock:
            self.records.append(
                Record(
                    route,
                    status,
                    (time.monotonic() - started) * 1000,
                    started,
                    response is not None and "Retry-After" in response.headers,
                )
            )
        return response

    def succeeded(self, kind: str, reference: str, start: str) -> None:
        with self.lock:
            self.done.append((kind, reference, start))


def week_of(offset_days: int) -> tuple[date, date]:
    day = date.today() + timedelta(days=offset_days)
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


def slots(
    shared: Shared, session, service: str, first: date, last: date, centre: str = CENTRE
) -> list[str]:
    response = shared.call(
        session,
        "GET slots JSON",
        "GET",
        f"/api/v1/centres/{centre}/slots",
        params={"service": service, "from": first.isoformat(), "to": last.isoformat()},
    )
    if response is None or response.status_code != 200:
        return []
    return [s["start"] for s in response.json()["slots"]]


def browse(shared: Shared) -> None:
    """A family: the centres, a centre, weeks of free times, slots JSON."""
    session = requests.Session()
    while not shared.stop.is_set():
        service = random.choice(shared.services)
        centre = random.choice(shared.centres)
        monday, sunday = week_of(7 * random.randrange(8))
        choice = random.random()
        if choice < 0.15:
            shared.call(session, "GET /", "GET", "/")
        elif choice < 0.3:
            shared.call(session, "GET centre", "GET", f"/centres/{centre}")
        elif choice < 0.7:
            shared.call(
                session,
                "GET week page",
                "GET",
                f"/centres/{centre}/{service}",
                params={"language": "de", "week": monday.isoformat()},
            )
        else:
            slots(shared, session, service, monday, sunday, centre)


def book(shared: Shared, number: int) -> None:
    """Families booking the first free times of one shared day, so several race for one slot;
    then some cancel, some move, some look at their manage page."""
    session = requests.Session()
    service = shared.services[0]
    while not shared.stop.is_set():
        centre = random.choice(shared.centres)
        day = date.today() + timedelta(days=shared.hot_day)
        free = slots(shared, session, service, day, day, centre)
        if not free:
            with shared.lock:
                if shared.hot_day < 60:
                    shared.hot_day += 1
            continue
        start = free[random.randrange(min(2, len(free)))]
        payload = {
            "service": service,
            "start": start,
            "name": f"Last Familie {number}",
            "email": f"load-{uuid.uuid4().hex[:12]}@example.org",
            "consent": True,
        }
        response = shared.call(
            session, "POST booking (API)", "POST", f"/api/v1/centres/{centre}/bookings",
            json=payload,
        )  # fmt: skip
        if response is None or response.status_code != 201:
            continue
        body = response.json()
        reference, token = body["reference"], body["manage_url"].rsplit("/", 1)[1]
        shared.succeeded("confirmation", reference, body["start"])
        choice = random.random()
        if choice < 0.2:
            shared.call(session, "GET manage page", "GET", f"/b/{token}")
        elif choice < 0.45:
            cancel = shared.call(
                session, "POST cancel (API)", "POST", f"/api/v1/bookings/{token}/cancel"
            )
            if cancel is not None and cancel.status_code == 200:
                shared.succeeded("cancellation", reference, "")
            elif cancel is None or cancel.status_code == 503:
                shared.uncertain.add(reference)
        elif choice < 0.7:
            later = date.today() + timedelta(days=shared.hot_day + 1 + random.randrange(14))
            other = slots(shared, session, service, later, later, centre)
            if other:
                moved = shared.call(
                    session,
                    "POST move (API)",
                    "POST",
                    f"/api/v1/bookings/{token}/reschedule",
                    json={"start": random.choice(other)},
                )
                if moved is not None and moved.status_code == 200:
                    shared.succeeded("change", reference, moved.json()["start"])
                elif moved is None or moved.status_code == 503:
                    shared.uncertain.add(reference)


CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|'
                  r'name="csrf_token" value="([^"]+)"')  # fmt: skip
NONCE = re.compile(r'name="nonce" type="hidden" value="([^"]+)"|name="nonce" value="([^"]+)"')
START = re.compile(r'name="start" id="slot-\d+" value="([^"]+)"')


def hidden(pattern: re.Pattern, html: str) -> str | None:
    found = pattern.search(html)
    return next((g for g in found.groups() if g), None) if found else None


def take_calls(shared: Shared) -> None:
    """Reception: signs in, then books callers through the intake form (CSRF, nonce); other
    receptionists and families may take the same time meanwhile (a 409 page)."""
    session = requests.Session()
    number = 0
    signed_in = False
    while not shared.stop.is_set():
        if not signed_in:
            page = shared.call(session, "GET staff sign-in", "GET", "/staff/login")
            token = hidden(CSRF, page.text) if page is not None else None
            if token is None:
                time.sleep(0.5)
                continue
            answer = shared.call(
                session,
                "POST staff sign-in",
                "POST",
                "/staff/login",
                data={"csrf_token": token, "email": RECEPTION, "password": RECEPTION_PASSWORD},
            )
            signed_in = answer is not None and answer.status_code == 303
            continue
        service = shared.services[0]
        page = shared.call(
            session, "GET staff intake", "GET", "/staff/intake",
            params={"centre": CENTRE, "service": service},
        )  # fmt: skip
        if page is None or page.status_code != 200:
            if page is not None and page.status_code in (302, 303):
                signed_in = False
            continue
        token, nonce, starts = (
            hidden(CSRF, page.text),
            hidden(NONCE, page.text),
            START.findall(page.text),
        )
        if not (token and nonce and starts):
            continue
        number += 1
        name = f"Anruf {uuid.uuid4().hex[:10]}"
        answer = shared.call(
            session,
            "POST staff intake",
            "POST",
            "/staff/intake",
            data={
                "csrf_token": token,
                "nonce": nonce,
                "centre": CENTRE,
                "service": service,
                "language": "",
                "channel": "phone",
                # The first free time offered (staff book at short notice, today too).
                "start": starts[0],
                "name": name,
                "phone": "02323 16-3530",
                "email": f"call-{number}-{uuid.uuid4().hex[:8]}@example.org",
                "persons": "1",
            },
        )
        if answer is not None and answer.status_code in (302, 303):
            with shared.lock:
                shared.intakes.append(name)


def drive(
    base: str, services: list[str], seconds: float, events=(), centres=(CENTRE,), browsers=BROWSERS
) -> Shared:
    """Run every client for ``seconds``; ``events`` are (at_second, callable) run meanwhile."""
    shared = Shared(base=base, services=services, stop=threading.Event(), centres=list(centres))
    clients = [(browse, (shared,))] * browsers
    clients += [(book, (shared, n)) for n in range(BOOKERS)]
    clients += [(take_calls, (shared,))] * RECEPTIONISTS
    # Daemon threads: an interrupted run never waits for a client stuck in a request.
    threads = [threading.Thread(target=f, args=a, daemon=True) for f, a in clients]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    try:
        for at, action in sorted(events, key=lambda e: e[0]):
            time.sleep(max(0.0, began + at - time.monotonic()))
            action()
        time.sleep(max(0.0, began + seconds - time.monotonic()))
    finally:
        shared.stop.set()
        for thread in threads:
            thread.join(timeout=60)
    return shared


# --- checks -------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def latency_table(records: list[Record], seconds: float) -> str:
    by_route: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        by_route[record.route].append(record)
    lines = [
        "| route | requests | req/s | statuses | p50 ms | p95 ms | p99 ms |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    for route in sorted(by_route):
        rows = by_route[route]
        times = [r.ms for r in rows]
        statuses = ", ".join(f"{s}×{n}" for s, n in sorted(Counter(r.status for r in rows).items()))
        p50, p95, p99 = statistics.median(times), percentile(times, 0.95), percentile(times, 0.99)
        lines.append(
            f"| {route} | {len(rows)} | {len(rows) / seconds:.1f} | {statuses} "
            f"| {p50:.0f} | {p95:.0f} | {p99:.0f} |"
        )
    lines.append(f"\n{len(records)} requests in {seconds:.0f} s = {len(records) / seconds:.0f}/s")
    return "\n".join(lines)


def drain(dsn: str, since_id: int) -> float:
    """Wait (bounded) until no mail of the run is pending and due within the next hour."""
    began = time.monotonic()
    while time.monotonic() - began < DRAIN_SECONDS:
        with psycopg.connect(dsn) as conn:
            waiting = conn.execute(
                "SELECT count(*) FROM outbox_message WHERE id > %s AND state = 'pending' "
                "AND due_at < now() + interval '1 hour'",
                (since_id,),
            ).fetchone()[0]
        if waiting == 0:
            break
        time.sleep(0.5)
    return time.monotonic() - began


def check(
    dsn: str, shared: Shared, sink: Sink, since_id: int, restart_window: tuple[float, float] | None
) -> list[str]:
    failures: list[str] = []
    for record in shared.records:
        if record.status < 500 and record.status != 0:
            continue
        # The request was under way at some moment of the restart (give or take the grace).
        in_window = restart_window is not None and (
            record.started <= restart_window[1] + RESTART_GRACE
            and record.started + record.ms / 1000 >= restart_window[0] - RESTART_GRACE
        )
        if not (
            in_window and record.status in (0, 503) and (record.status == 0 or record.retry_after)
        ):
            failures.append(f"{record.route}: {record.status or 'no answer'}")
    with psycopg.connect(dsn) as conn:
        overlaps = conn.execute(
            "SELECT count(*) FROM booking a JOIN booking b ON a.counsellor_id = b.counsellor_id "
            "AND a.id < b.id AND a.start_at < b.end_at AND b.start_at < a.end_at "
            "WHERE a.status <> 'cancelled' AND b.status <> 'cancelled'"
        ).fetchone()[0]
        if overlaps:
            failures.append(f"{overlaps} pairs of overlapping active bookings")
        bookings = {
            ref: (status, start)
            for ref, status, start in conn.execute(
                "SELECT reference, status, start_at FROM booking"
            )
        }
        names = {name for (name,) in conn.execute("SELECT name FROM booking")}
        rows = conn.execute(
            "SELECT o.id, o.kind, o.state, o.message_id, o.event_key, b.reference "
            "FROM outbox_message o LEFT JOIN booking b ON b.id = o.booking_id "
            "WHERE o.id > %s AND o.kind = ANY(%s)",
            (since_id, list(MAIL_KINDS)),
        ).fetchall()
        every_message_id = {m for (m,) in conn.execute("SELECT message_id FROM outbox_message")}
        pending_due = conn.execute(
            "SELECT count(*) FROM outbox_message WHERE id > %s AND state <> 'sent' "
            "AND (state <> 'pending' OR due_at <= now())",
            (since_id,),
        ).fetchone()[0]
    if pending_due:
        failures.append(f"{pending_due} outbox rows pending and due, or dead, after the drain")

    # Nothing the clients saw succeed is lost: one thread handles a booking, so its last
    # success is the state the database must show.
    last: dict[str, tuple[str, str]] = {}
    counts: Counter = Counter()
    for kind, reference, start in shared.done:
        counts[(reference, kind)] += 1
        last[reference] = (kind, start)
    for reference, (kind, start) in last.items():
        if reference not in bookings:
            failures.append(f"booking {reference} answered 201 but is not in the database")
            continue
        status, start_at = bookings[reference]
        if reference in shared.uncertain:
            continue
        if kind == "cancellation" and status != "cancelled":
            failures.append(f"booking {reference} was cancelled (200) but is {status}")
        if kind != "cancellation" and datetime.fromisoformat(start) != start_at:
            failures.append(f"booking {reference} starts at {start_at}, the client saw {start}")
    lost_calls = [name for name in shared.intakes if name not in names]
    if lost_calls:
        failures.append(f"{len(lost_calls)} intake bookings answered 303 but are missing")

    # Every success has exactly one outbox row of its kind; every row reached the sink once.
    rows_of: Counter = Counter((reference, kind) for _, kind, _, _, _, reference in rows)
    for (reference, kind), seen in counts.items():
        if rows_of[(reference, kind)] != seen:
            failures.append(
                f"{reference}: {seen} × {kind} answered, {rows_of[(reference, kind)]} mails queued"
            )
    with sink.lock:
        received = list(sink.messages)
    at_sink = Counter(m["message_id"] for m in received)
    events_at_sink = Counter((m.get("uid"), m.get("method"), m.get("sequence")) for m in received)
    for _, kind, _, message_id, event_key, _ in rows:
        if at_sink[message_id] != 1:
            failures.append(f"{event_key} ({kind}) reached the sink {at_sink[message_id]} times")
    for message in received:
        uid = message.get("uid", "").removesuffix("@ki-booking")
        if message["message_id"] not in every_message_id or (uid and uid not in bookings):
            failures.append(f"mail {message['message_id']} belongs to no booking or outbox row")
    twice = [event for event, n in events_at_sink.items() if event[0] and n > 1]
    if twice:
        failures.append(f"{len(twice)} calendar events mailed twice: {twice[:3]}")
    return failures


# --- the run ------------------------------------------------------------------------------


def run_phase(
    name,
    stack,
    pg,
    sink,
    mail,
    services,
    seconds,
    chaos: bool,
    centres=(CENTRE,),
    browsers=BROWSERS,
) -> tuple[str, bool]:
    with psycopg.connect(pg.dsn) as conn:
        since_id = conn.execute("SELECT coalesce(max(id), 0) FROM outbox_message").fetchone()[0]
        since_booking = conn.execute("SELECT coalesce(max(id), 0) FROM booking").fetchone()[0]
    window: list[float] = []
    events = []
    if chaos:

        def restart_db() -> None:
            window.append(time.monotonic())
            log("PostgreSQL: pg_ctl restart -m fast")
            pg.restart()
            window.append(time.monotonic())
            log(f"PostgreSQL back after {window[1] - window[0]:.1f} s")

        def mail_outage() -> None:
            pause = max(2.0, min(5.0, seconds / 6))
            log(f"mail server stopped for {pause:.0f} s")
            mail.stop()
            time.sleep(pause)
            mail.start()
            log("mail server started again on the same port")

        events = [(seconds / 3, restart_db), (2 * seconds / 3, mail_outage)]
    log(f"{name}: {seconds:.0f} s of traffic")
    shared = drive(stack.base, services, seconds, events, centres, browsers)
    waited = drain(pg.dsn, since_id)
    failures = check(pg.dsn, shared, sink, since_id, (window[0], window[1]) if window else None)
    kinds = Counter(kind for kind, _, _ in shared.done)
    with psycopg.connect(pg.dsn) as conn:
        made = conn.execute("SELECT count(*) FROM booking WHERE id > %s", (since_booking,))
        made = made.fetchone()[0]
        retried = conn.execute(
            "SELECT count(*) FROM outbox_message WHERE id > %s AND attempts > 1", (since_id,)
        ).fetchone()[0]
    # A booking committed just before its connection died was answered 503: it stands, with
    # its mail, though the client was told to try again.
    unanswered = made - kinds["confirmation"] - len(shared.intakes)
    unavailable = sum(r.status in (0, 503) for r in shared.records)
    report = [
        f"### {name}",
        "",
        latency_table(shared.records, seconds),
        "",
        f"Succeeded: {kinds['confirmation']} bookings (API), {len(shared.intakes)} intake "
        f"bookings, {kinds['change']} moves, {kinds['cancellation']} cancellations; "
        f"{sum(r.status == 409 for r in shared.records)} lost races (409). "
        f"{retried} mails needed more than one attempt; the outbox drained {waited:.1f} s "
        "after the traffic stopped."
        + (
            f" PostgreSQL restart took {window[1] - window[0]:.1f} s: {unavailable} answers "
            f"503 (or no answer); {unanswered} bookings committed whose client saw no 201."
            if window
            else ""
        ),
        "Checks: " + ("all passed" if not failures else f"{len(failures)} FAILED"),
    ]
    report += [f"- {f}" for f in failures[:20]]
    return "\n".join(report), not failures


def seed_state() -> None:
    """Run inside the stack's environment (after ``seed-demo``): the centres, services,
    counsellors and bookings of the state, written through the models, so the occupancy
    writer makes every booking's busy time as in production. Seeded bookings send no mail."""
    import hashlib
    from datetime import time as clock
    from zoneinfo import ZoneInfo

    from sqlalchemy import func, select

    from booking import create_app
    from booking.bookings import new_reference
    from booking.demo import JOINT_ROLES, OFFICER_HOURS, SERVICE_DETAILS, SERVICES, service_names
    from booking.extensions import db
    from booking.models import (
        COUNSELLOR,
        OFFICER,
        Booking,
        Centre,
        Occupancy,
        OpeningHours,
        Service,
        User,
        WorkingHours,
        utcnow,
    )  # fmt: skip

    chance = random.Random("load-state")  # noqa: S311 - invented data, not security
    languages = (["de", "tr"], ["de", "ar", "fa"], ["de", "ru", "uk"], ["de", "en"], ["de", "ro"])
    umlauts = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", " ": "-"})
    app = create_app()
    with app.app_context():
        names = service_names()
        for place in STATE_PLACES[: STATE_CENTRES - 2]:
            slug = place.lower().translate(umlauts)
            if db.session.scalar(select(Centre).where(Centre.slug == slug)) is not None:
                continue
            centre = Centre(
                slug=slug,
                name=f"Kommunales Integrationszentrum {place}",
                address=f"Rathausplatz 1, {place}",
                phone="0211 000-0",
                email=f"integrationszentrum@{slug}.example",
                privacy_officer_contact=f"datenschutz@{slug}.example",
                legal_operator=f"{place}\nKommunales Integrationszentrum",
                responsible_person="Leitung des Integrationszentrums (Last)",
                accessibility_contact=f"integrationszentrum@{slug}.example",
            )
            centre.opening_hours = [
                OpeningHours(weekday=day, opens=clock(8), closes=clock(16)) for day in range(4)
            ] + [OpeningHours(weekday=4, opens=clock(8), closes=clock(13))]
            for position, (service_slug, topic, minutes) in enumerate(SERVICES):
                service_format, descriptions, bring = SERVICE_DETAILS[topic]
                centre.services.append(
                    Service(
                        slug=service_slug, former_slug=topic, names=names[topic],
                        duration_minutes=minutes, position=position, format=service_format,
                        descriptions=descriptions, what_to_bring=bring,
                        roles=JOINT_ROLES.get(service_slug, [COUNSELLOR]),
                    )
                )  # fmt: skip
            officer = User(
                email=f"schulaufsicht@{slug}.example", name=f"Schulaufsicht {place}",
                role=OFFICER, centre=centre, languages=["de"],
                services=[s for s in centre.services if s.slug in JOINT_ROLES],
                working_hours=[WorkingHours(weekday=d, opens=o, closes=c)
                               for d, o, c in OFFICER_HOURS],
            )  # fmt: skip
            db.session.add_all([centre, officer])
        db.session.commit()
        made = 0
        per_centre = STATE_PER_DAY // STATE_CENTRES
        now = utcnow()
        for centre_id in db.session.scalars(select(Centre.id).order_by(Centre.id)).all():
            centre = db.session.get(Centre, centre_id)
            services = [s for s in centre.services if not s.is_joint]
            counsellors = [u for u in centre.staff if u.role == COUNSELLOR]
            for number in range(len(counsellors), STATE_COUNSELLORS):
                counsellors.append(
                    User(
                        email=f"beratung-{number}@{centre.slug}.example",
                        name=f"Beraterin {number} {centre.slug}", role=COUNSELLOR,
                        centre=centre, languages=languages[number % len(languages)],
                        services=[services[number % len(services)],
                                  services[(number + 1) % len(services)]],
                    )
                )  # fmt: skip
            db.session.add_all(counsellors)
            db.session.flush()
            # What seed-demo made (bookings, events) stays; the month is written around it.
            busy = defaultdict(list)
            for user_id, start, end in db.session.execute(
                select(Occupancy.user_id, Occupancy.start_at, Occupancy.end_at).where(
                    Occupancy.user_id.in_([c.id for c in counsellors]),
                    Occupancy.is_active.is_(True),
                )
            ):
                busy[user_id].append((start, end))
            zone = ZoneInfo(centre.timezone)
            today = now.astimezone(zone).date()
            for offset in STATE_DAYS:
                day = today + timedelta(days=offset)
                hours = [h for h in centre.opening_hours if h.weekday == day.weekday()]
                if offset == 0 or not hours:
                    continue
                # Hourly starts of every counsellor: never two bookings of one at once.
                places = [
                    (counsellor, datetime.combine(day, h.opens, zone) + timedelta(hours=n), h)
                    for counsellor in counsellors
                    for h in hours
                    for n in range(24)
                    if datetime.combine(day, h.opens, zone) + timedelta(hours=n)
                    < datetime.combine(day, h.closes, zone)
                ]
                chance.shuffle(places)
                for counsellor, start_at, h in places[:per_centre]:
                    service = chance.choice([s for s in counsellor.services if not s.is_joint])
                    end_at = start_at + service.duration
                    if end_at > datetime.combine(day, h.closes, zone) or any(
                        start < end_at and start_at < end for start, end in busy[counsellor.id]
                    ):
                        continue
                    made += 1
                    past = start_at < now
                    status = chance.choice(["attended"] * 8 + ["no_show", "cancelled"])
                    db.session.add(
                        Booking(
                            reference=new_reference(), centre=centre, service=service,
                            counsellor=counsellor, start_at=start_at,
                            end_at=start_at + service.duration,
                            status=status if past else "confirmed",
                            channel=chance.choice(["online"] * 3 + ["phone", "walk_in"]),
                            name=f"Familie {made}", email=f"state-{made}@example.org",
                            language=chance.choice(counsellor.languages),
                            manage_token_hash=hashlib.sha256(f"state:{made}".encode()).hexdigest(),
                            cancelled_at=start_at - timedelta(days=1)
                            if past and status == "cancelled" else None,
                            created_at=start_at - timedelta(days=chance.randint(1, 20)),
                        )
                    )  # fmt: skip
            db.session.commit()
            db.session.expunge_all()
        centres = db.session.scalar(select(func.count()).select_from(Centre))
        staff = db.session.scalar(select(func.count()).where(User.role == COUNSELLOR))
        print(f"{centres} centres, {staff} counsellors, {made} bookings", flush=True)


def main(state: bool = False) -> int:
    folder = Path(tempfile.mkdtemp(prefix="ki-load-"))
    folder.chmod(0o755)
    pg = Postgres(folder)
    sink = Sink(folder / "mail.jsonl")
    mail = MailServer(sink)
    stack: Stack | None = None
    result = 1
    # Whatever happens, the run ends: a watchdog stops everything after a generous bound.
    bound = 2 * SECONDS + 2 * DRAIN_SECONDS + 600

    def watchdog() -> None:
        log(f"the run took longer than {bound:.0f} s: stopping")
        os.kill(os.getpid(), signal.SIGTERM)

    timer = threading.Timer(bound, watchdog)
    timer.daemon = True
    timer.start()

    def interrupt(*_) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        log(f"PostgreSQL {pg.bin.parent.name}: initdb in {pg.folder}, port {pg.port}")
        pg.start()
        redis.Redis.from_url(REDIS_URL).flushdb()
        mail.start()
        app_port = free_port()
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("MAIL_", "FLASK_", "RATELIMIT_", "API_", "OUTBOX_", "GUNICORN_"))
            and k not in {"DATABASE_URL", "SERVER_NAME", "WEB_CONCURRENCY", "SECRET_KEY"}
        }
        env.update(
            PATH=f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}",
            SECRET_KEY=secrets.token_hex(32),
            DATABASE_URL=pg.url,
            INSTANCE_PATH=str(folder / "instance"),
            RATELIMIT_STORAGE_URI=REDIS_URL,
            # Every client is 127.0.0.1: the per-address limits are raised, not switched off.
            API_RATELIMIT="1000000 per minute",
            API_BOOKING_RATELIMIT="1000000 per minute",
            NEW_BOOKINGS_PER_ADDRESS="1000000 per day",
            MAIL_SERVER="127.0.0.1",
            MAIL_PORT=str(mail.port),
            MAIL_TIMEOUT="5",
            # Retries after the mail-server outage come after 1, 2, 4 ... s, not minutes.
            OUTBOX_BACKOFF_SECONDS="1",
            GUNICORN_BIND=f"127.0.0.1:{app_port}",
            # deploy/gunicorn.conf.py refuses to start without it (links in mails).
            SERVER_NAME=f"127.0.0.1:{app_port}",
            GUNICORN_ACCESS_LOG=str(folder / "access.log"),
            WEB_CONCURRENCY=str(WORKERS),
        )
        stack = Stack(folder=folder, env=env, base=f"http://127.0.0.1:{app_port}")
        log("migrate, seed the demo, create the reception account")
        stack.flask("db", "upgrade")
        stack.flask("seed-demo")
        if state:
            log(f"seed the state: {STATE_CENTRES} centres × {STATE_COUNSELLORS} counsellors, "
                f"{STATE_PER_DAY} bookings a weekday for {STATE_DAYS} days")  # fmt: skip
            began = time.monotonic()
            with (folder / "seed.log").open("w") as out:
                subprocess.run(
                    [sys.executable, str(Path(__file__).resolve()), "seed-state"],
                    cwd=ROOT, env=env, check=True, timeout=1800, stdout=out,
                    stderr=subprocess.STDOUT,
                )  # fmt: skip
            log(f"seeded in {time.monotonic() - began:.0f} s: "
                + (folder / "seed.log").read_text().strip().splitlines()[-1])  # fmt: skip
        stack.flask(
            "create-user", RECEPTION, "--role", "reception", "--centre", CENTRE,
            "--password-stdin", stdin=RECEPTION_PASSWORD + "\n",
        )  # fmt: skip
        gunicorn = stack.start(
            "gunicorn",
            [str(BIN / "gunicorn"), "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), "wsgi:app"],
        )
        for number in (1, 2):
            stack.start(
                f"outbox-{number}",
                [str(BIN / "flask"), "--app", "wsgi", "outbox", "work", "--poll", "0.5"],
            )
        listed = wait_until_serving(f"{stack.base}/api/v1/centres/{CENTRE}/services", gunicorn)
        services = [s["slug"] for s in listed.json() if s["online_bookable"]]
        log(f"{WORKERS} gunicorn workers, 2 outbox workers, services {', '.join(services)}")

        reports, passed = [], True
        phases = [("Steady", False), ("With a PostgreSQL restart and a mail-server outage", True)]
        centres, browsers = [CENTRE], BROWSERS
        if state:
            phases = [(f"The state: {STATE_CENTRES} centres, mixed traffic", False)]
            with psycopg.connect(pg.dsn) as conn:
                centres = [slug for (slug,) in conn.execute("SELECT slug FROM centre")]
            browsers = STATE_BROWSERS
        for name, chaos in phases:
            report, ok = run_phase(
                name, stack, pg, sink, mail, services, SECONDS, chaos, centres, browsers
            )
            reports.append(report)
            passed = passed and ok
            print("\n" + report + "\n", flush=True)
        log(f"load run {'passed' if passed else 'FAILED'}")
        result = 0 if passed else 1
        return result
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        timer.cancel()
        if stack is not None:
            stack.stop_all()
        mail.stop()
        try:
            pg.stop()
        except subprocess.SubprocessError as error:
            log(f"pg_ctl stop failed: {error}")
        if result == 0 and os.environ.get("LOAD_KEEP") != "1":
            shutil.rmtree(folder, ignore_errors=True)
        else:
            log(f"logs and mail.jsonl kept in {folder}")


if __name__ == "__main__":
    if sys.argv[1:] == ["seed-state"]:
        seed_state()
        sys.exit(0)
    sys.exit(main(state=sys.argv[1:] == ["--state"]))
