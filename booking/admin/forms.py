"""Forms of the admin pages. They parse and check types; the settings writers
(centre_settings.py, service_catalogue.py, accounts.py) hold the rules (ranges, overlaps,
uniqueness) and raise per-field messages the views show."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import InputRequired, Optional

from booking.i18n import PUBLIC_LANGUAGES
from booking.settings_checks import text_field

WHOLE_NUMBER = re.compile(r"^-?[0-9]{1,9}$")


class WholeNumberField(IntegerField):
    """An integer written in ASCII digits: Python's int() would also take "٣" and "５"."""

    def process_formdata(self, valuelist):
        if valuelist and valuelist[0].strip() and not WHOLE_NUMBER.match(valuelist[0].strip()):
            self.data = None
            raise ValueError(self.gettext("Not a valid integer value."))
        super().process_formdata(valuelist)


class SettingsForm(FlaskForm):
    """A form whose fields are named as the arguments of its writer (centre_settings.py, ...)."""

    def values(self) -> dict:
        """Every field's data by name, to pass on as the writer's keyword arguments."""
        return {field.short_name: field.data for field in self if field.short_name != "csrf_token"}


class WeeklyHoursForm(FlaskForm):
    """An opening interval of the centre, or a working interval of a staff member."""

    weekday = SelectField(_l("Weekday"), coerce=int)
    opens = TimeField(_l("From"), validators=[InputRequired()])
    closes = TimeField(_l("Until"), validators=[InputRequired()])
    valid_from = DateField(_l("Valid from (optional)"), validators=[Optional()])
    valid_until = DateField(_l("Valid until (optional)"), validators=[Optional()])


class OpeningHoursEditForm(WeeklyHoursForm):
    """A change of an opening interval, for all its days or from a date on."""

    change_from = DateField(_l("The change applies from (optional)"), validators=[Optional()])


class ClosureForm(SettingsForm):
    start_date = DateField(_l("First day"), validators=[InputRequired()])
    start_time = TimeField(_l("From (optional)"), validators=[Optional()])
    end_date = DateField(_l("Last day (optional)"), validators=[Optional()])
    end_time = TimeField(_l("Until (optional)"), validators=[Optional()])
    reason = StringField(_l("Reason shown to families"))
    # reason_<language> for each further public language: below.

    def values(self) -> dict:
        """The writer's arguments: the German reason, and the others as ``reasons``."""
        values = super().values()
        values["reasons"] = {
            code: values.pop(text_field("reason", code)) or ""
            for code in PUBLIC_LANGUAGES
            if code != "de"
        }
        return values


class RulesForm(SettingsForm):
    min_notice_hours = WholeNumberField(_l("Minimum notice (hours)"), validators=[InputRequired()])
    horizon_days = WholeNumberField(_l("Booking horizon (days)"), validators=[InputRequired()])
    slot_step_minutes = WholeNumberField(_l("Slot step (minutes)"), validators=[InputRequired()])
    buffer_minutes = WholeNumberField(
        _l("Buffer between appointments (minutes)"), validators=[InputRequired()]
    )
    max_active_bookings_per_email = WholeNumberField(
        _l("Upcoming bookings per e-mail address (at most)"), validators=[InputRequired()]
    )
    holiday_region = StringField(_l("Public holidays of (region)"))
    feed_shows_service = BooleanField(_l("Counsellors' calendar feeds name the service"))
    hold_online_bookings = BooleanField(
        _l("Online bookings wait for the family's confirmation by e-mail")
    )
    hold_minutes = WholeNumberField(
        _l("Time to confirm an online booking (minutes)"), validators=[Optional()]
    )


class ServiceForm(FlaskForm):
    slug = StringField(_l("Short name in addresses"))
    name_de = StringField(_l("Name in German"))
    name_en = StringField(_l("Name in English (optional)"))
    duration_minutes = WholeNumberField(_l("Duration (minutes)"), validators=[InputRequired()])
    buffer_minutes = WholeNumberField(_l("Buffer (minutes, optional)"), validators=[Optional()])
    online_bookable = BooleanField(_l("Families can book it online"))
    is_active = BooleanField(_l("Offered"))
    counsellors = SelectMultipleField(_l("Offered by"), coerce=int)
    # Choices are set by the view; booking/service_catalogue.py checks the format.
    format = SelectField(_l("Format"), validate_choice=False)
    # name_<language> (German and English above), description_<language> and
    # what_to_bring_<language> for each public language: below.


# A field per public language for each text families read: the form shows them grouped by
# language; the writers key their messages by the same names (text_field).
for _code in PUBLIC_LANGUAGES:
    if _code not in ("de", "en"):
        setattr(ServiceForm, text_field("name", _code), StringField(_l("Name")))
    setattr(ServiceForm, text_field("description", _code), TextAreaField(_l("Description")))
    setattr(ServiceForm, text_field("what_to_bring", _code), TextAreaField(_l("What to bring")))
    if _code != "de":
        setattr(ClosureForm, text_field("reason", _code), StringField(_l("Reason")))


class LegalForm(SettingsForm):
    """The centre's details on the Impressum, privacy notice and accessibility statement."""

    legal_operator = TextAreaField(_l("Operator (legal body and address lines)"))
    responsible_person = StringField(_l("Responsible for the content"))
    contact_email = EmailField(_l("Contact e-mail for the legal pages and data protection"))
    accessibility_contact = StringField(_l("Feedback contact for accessibility"))
    privacy_officer_contact = StringField(_l("Data-protection officer (name and contact)"))
    visiting_address = StringField(_l("Where families go (visiting address)"))


class StaffEditForm(FlaskForm):
    name = StringField(_l("Name"))
    # Chosen by name; stored as ISO codes. booking/accounts.py checks every code.
    languages = SelectMultipleField(_l("Languages"), validate_choice=False)
    other_languages = StringField(_l("Other languages (codes, optional)"))
    services = SelectMultipleField(_l("Services offered"), coerce=int)

    def language_codes(self) -> str:
        """The ticked languages and the typed codes, as one list for the rules to check."""
        return ", ".join([*(self.languages.data or []), self.other_languages.data or ""])


class StaffCreateForm(StaffEditForm):
    email = EmailField(_l("E-mail address"))
    # Choices are set by the view; booking/accounts.py checks the role.
    role = SelectField(_l("Role"), validate_choice=False)
    password = PasswordField(_l("Initial password"))


class StaffPasswordForm(SettingsForm):
    """A password an admin sets for a staff member (who must change it at next sign-in)."""

    password = PasswordField(_l("New password"))
    confirm = PasswordField(_l("New password again"))


class EventForm(FlaskForm):
    """An event, or a series of events made in one step (SPEC "Events")."""

    # title_<language> and description_<language> for each public language: below.
    audience = SelectField(_l("For whom"), validate_choice=False)
    date = DateField(_l("Date"), validators=[InputRequired()])
    starts = TimeField(_l("From"), validators=[InputRequired()])
    ends = TimeField(_l("Until"), validators=[InputRequired()])
    place = StringField(_l("Place (empty: the centre)"))
    leaders = SelectMultipleField(_l("Led by"), coerce=int)
    seats = WholeNumberField(_l("Seats"), validators=[InputRequired()])
    has_waiting_list = BooleanField(_l("Keep a waiting list"))
    closes_hours = WholeNumberField(
        _l("Registration closes (hours before the start)"), validators=[Optional()]
    )
    languages = SelectMultipleField(_l("Held in"), validate_choice=False)
    repeat = SelectField(_l("Repeat"), validate_choice=False)
    count = WholeNumberField(_l("Number of events in the series"), validators=[Optional()])


for _code in PUBLIC_LANGUAGES:
    setattr(EventForm, text_field("title", _code), StringField(_l("Title")))
    setattr(EventForm, text_field("description", _code), TextAreaField(_l("Description")))
