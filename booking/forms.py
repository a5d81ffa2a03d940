"""Forms every audience shares."""

from flask_wtf import FlaskForm


class EmptyForm(FlaskForm):
    """CSRF protection for actions that are a single button."""
