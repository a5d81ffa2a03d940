"""How the app is served: behind proxies, over https, with nothing personal left in caches.

- ``TRUSTED_PROXIES`` (default 0) proxies in front are believed for X-Forwarded-For, -Proto
  and -Host (werkzeug's ProxyFix): links then use the public scheme and host, and rate limits
  count the client's address. With 0 those headers change nothing.
- Over https (decided per request) the session cookie is ``Secure`` and named ``__Host-…``,
  and HSTS is sent.
- Every response is ``Cache-Control: no-store`` except static files and the public pages
  that show no one's data (``CACHEABLE_ENDPOINTS``).
"""

from __future__ import annotations

from flask import Flask, current_app, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

# Pages and answers that are the same for everybody; everything else may show personal data
# (a booking, a calendar, a staff page) or carries a session-bound form, and is never stored.
CACHEABLE_ENDPOINTS = frozenset(
    {
        "static",
        "public.index",
        "public.centre_page",
        "public.service_week",
        "public.privacy",
        "api.list_centres",
        "api.list_services",
        "api.list_slots",
        "api.openapi_document",
    }
)

SECURE_COOKIE_PREFIX = "__Host-"


class SchemeAwareSessionInterface(SecureCookieSessionInterface):
    """Signed-cookie sessions whose cookie is ``Secure`` and ``__Host-`` over https.

    ``__Host-`` makes the browser refuse the cookie unless it is Secure, has Path=/ and no
    Domain: no other host or plain-http page can set or overwrite it.
    """

    def _is_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure

    def get_cookie_name(self, app: Flask) -> str:
        name = super().get_cookie_name(app)
        return SECURE_COOKIE_PREFIX + name if self._is_secure(app) else name

    def get_cookie_secure(self, app: Flask) -> bool:
        return self._is_secure(app)

    def get_cookie_domain(self, app: Flask) -> str | None:
        return None if self._is_secure(app) else super().get_cookie_domain(app)

    def get_cookie_path(self, app: Flask) -> str:
        return "/" if self._is_secure(app) else super().get_cookie_path(app)


def _transport_headers(response):
    hsts = int(current_app.config.get("HSTS_MAX_AGE") or 0)
    if request.is_secure and hsts:
        response.headers.setdefault("Strict-Transport-Security", f"max-age={hsts}")
    if request.endpoint not in CACHEABLE_ENDPOINTS and not response.cache_control.no_store:
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """Install the proxy fix, the session cookie rules and the transport headers."""
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies < 0:
        raise ValueError("TRUSTED_PROXIES must be 0 or more")
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    app.session_interface = SchemeAwareSessionInterface()
    app.after_request(_transport_headers)
