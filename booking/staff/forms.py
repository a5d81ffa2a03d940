"""Forms of the staff workspace."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField


class SignInForm(FlaskForm):
    email = EmailField(_l("E-mail address"))
    password = PasswordField(_l("Password"))
    next = HiddenField()


class EmptyForm(FlaskForm):
    """CSRF protection for actions that are a single button."""
