"""Forms of the staff workspace. They render fields and check CSRF; booking/validation.py
and booking/bookings.py hold the rules."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    FileField,
    HiddenField,
    PasswordField,
    SelectField,
    StringField,
    TelField,
    TextAreaField,
)
from wtforms.widgets import DateInput, DateTimeLocalInput


class SignInForm(FlaskForm):
    email = EmailField(_l("E-mail address"))
    password = PasswordField(_l("Password"))
    next = HiddenField()


class PasswordChangeForm(FlaskForm):
    current = PasswordField(_l("Current password"))
    new = PasswordField(_l("New password"))
    confirm = PasswordField(_l("New password again"))


class IntakeForm(FlaskForm):
    """A booking taken on the phone or at the desk; the time and channel are radio groups
    rendered by the template."""

    nonce = HiddenField()
    name = StringField(_l("Name"))
    phone = TelField(_l("Phone number"))
    email = EmailField(_l("E-mail address (optional)"))
    # The choices are offered, not enforced: booking/validation.py checks any BCP 47 tag.
    interpreter_language = SelectField(
        _l("Interpreter needed for (optional)"), choices=[], validate_choice=False
    )
    persons = StringField(_l("Number of persons"), default="1")
    message = TextAreaField(_l("Short note (optional)"))


class AbsenceForm(FlaskForm):
    """An absence in the centre's wall time; the view parses and checks the times."""

    counsellor = SelectField(_l("Counsellor"), choices=[], validate_choice=False)
    first_day = StringField(_l("First day"), widget=DateInput())
    last_day = StringField(_l("Last day (optional)"), widget=DateInput())
    start = StringField(_l("From"), widget=DateTimeLocalInput())
    end = StringField(_l("Until"), widget=DateTimeLocalInput())
    repeat_until = StringField(_l("Repeat every week until (optional)"), widget=DateInput())
    note = StringField(_l("Note (optional)"))


class InvitationForm(FlaskForm):
    """One family invited (SPEC "Invitations"); booking/invitations.py checks the values."""

    centre = HiddenField()
    service = SelectField(_l("Consultation"), choices=[], validate_choice=False)
    name = StringField(_l("Family name"))
    email = EmailField(_l("E-mail address (optional)"))
    phone = TelField(_l("Phone number (optional)"))
    language = SelectField(_l("Language of the invitation"), choices=[], validate_choice=False)
    case_note = TextAreaField(_l("Case note (pupil's first name, age, school form asked)"))
    expires_days = StringField(_l("Valid for days"), default="14")


class InvitationListForm(FlaskForm):
    """The school authority's list as a CSV file."""

    centre = HiddenField()
    service = SelectField(_l("Consultation"), choices=[], validate_choice=False)
    file = FileField(_l("CSV file (columns: name, email, phone, language, case_note)"))
