"""Forms of the public pages. They render fields and check CSRF; booking/validation.py
holds the rules, shared with the API."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    SelectField,
    StringField,
    TelField,
    TextAreaField,
)


class BookingForm(FlaskForm):
    """The details of SPEC "Bookings", nothing more."""

    start = HiddenField()
    nonce = HiddenField()
    name = StringField(_l("Your name"))
    email = EmailField(_l("E-mail address"))
    phone = TelField(_l("Phone number (optional)"))
    # The choices are offered, not enforced: booking/validation.py checks any BCP 47 tag.
    language = SelectField(
        _l("Preferred language for the consultation (optional)"), choices=[], validate_choice=False
    )
    interpreter_language = SelectField(
        _l("I need an interpreter for (optional)"), choices=[], validate_choice=False
    )
    persons = StringField(_l("Number of persons"), default="1")
    message = TextAreaField(_l("Short message (optional)"))
    consent = BooleanField(_l("I have read the privacy notice."))


class MoveForm(FlaskForm):
    start = HiddenField()


class FindBookingForm(FlaskForm):
    """The e-mail address of a booking whose link was lost, and its reference if known."""

    email = EmailField(_l("E-mail address"))
    reference = StringField(_l("Reference (optional)"))


class InvitationBookingForm(FlaskForm):
    """Booking through an invitation: the centre already knows the family's details."""

    start = HiddenField()
    consent = BooleanField(_l("I have read the privacy notice."))


class RegistrationForm(FlaskForm):
    """A registration for an event (SPEC "Events"), nothing more."""

    # One per form shown: a second submit of the same form shows the first registration.
    nonce = HiddenField()
    name = StringField(_l("Your name"))
    email = EmailField(_l("E-mail address"))
    phone = TelField(_l("Phone number (optional)"))
    organisation = StringField(_l("Organisation, school or nursery (optional)"))
    language = SelectField(_l("Your language (optional)"), choices=[], validate_choice=False)
    persons = StringField(_l("Number of persons"), default="1")
    consent = BooleanField(_l("I have read the privacy notice."))
