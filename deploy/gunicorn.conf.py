"""gunicorn settings for ki-booking: ``gunicorn -c deploy/gunicorn.conf.py wsgi:app``.

Every value can be set from the environment (the systemd unit reads /etc/ki-booking/env).
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND") or "127.0.0.1:8000"
# WEB_CONCURRENCY is gunicorn's usual name; `flask --app wsgi check` reads it too.
workers = int(os.environ.get("WEB_CONCURRENCY") or min(2 * multiprocessing.cpu_count() + 1, 8))
# A request that takes longer than this is stuck: its worker is restarted.
timeout = int(os.environ.get("GUNICORN_TIMEOUT") or 30)
graceful_timeout = 30
# nginx keeps connections to gunicorn open a little while.
keepalive = 5
# Workers are replaced now and then, so a slow leak never grows large.
max_requests = 2000
max_requests_jitter = 200

# The path of a request can hold a secret (/b/<token>, /calendar/<token>.ics) and the client's
# address is personal data: the access log has time, method, status, size and duration only.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or "-"
access_log_format = '%(t)s "%(m)s" %(s)s %(B)s %(L)s'
errorlog = "-"

# The app's TRUSTED_PROXIES (werkzeug's ProxyFix) decides which forwarded headers are
# believed; gunicorn must not turn X-Forwarded-Proto into https on its own as well.
secure_scheme_headers: dict[str, str] = {}

# gunicorn 27 opens a control socket under $HOME; the units' HOME=/nonexistent would log
# "Control server error: Permission denied" at every start. Nothing here uses it.
control_socket_disable = True


def on_starting(server):
    """Refuse to serve without SERVER_NAME: the links in mails (manage, cancel, find) would
    otherwise be built from the request's Host header, which a client chooses."""
    if not os.environ.get("SERVER_NAME"):
        raise RuntimeError(
            "SERVER_NAME is not set: links in mails would take the host a request names. "
            "Set SERVER_NAME (and PREFERRED_URL_SCHEME=https) in /etc/ki-booking/env."
        )
