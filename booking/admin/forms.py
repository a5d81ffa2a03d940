"""Forms of the admin pages. They parse and check types; booking/administration.py holds
the rules (ranges, overlaps, uniqueness) and raises per-field messages the views show."""

from __future__ import annotations

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
    TimeField,
)
from wtforms.validators import InputRequired, Optional


class EmptyForm(FlaskForm):
    """CSRF protection for actions that are a single button."""


class WeeklyHoursForm(FlaskForm):
    """An opening interval of the centre, or a working interval of a staff member."""

    weekday = SelectField(_l("Weekday"), coerce=int)
    opens = TimeField(_l("From"), validators=[InputRequired()])
    closes = TimeField(_l("Until"), validators=[InputRequired()])
    valid_from = DateField(_l("Valid from (optional)"), validators=[Optional()])
    valid_until = DateField(_l("Valid until (optional)"), validators=[Optional()])


class ClosureForm(FlaskForm):
    start_date = DateField(_l("First day"), validators=[InputRequired()])
    start_time = TimeField(_l("From (optional)"), validators=[Optional()])
    end_date = DateField(_l("Last day (optional)"), validators=[Optional()])
    end_time = TimeField(_l("Until (optional)"), validators=[Optional()])
    reason = StringField(_l("Reason shown to families"))


class RulesForm(FlaskForm):
    min_notice_hours = IntegerField(_l("Minimum notice (hours)"), validators=[InputRequired()])
    horizon_days = IntegerField(_l("Booking horizon (days)"), validators=[InputRequired()])
    slot_step_minutes = IntegerField(_l("Slot step (minutes)"), validators=[InputRequired()])
    buffer_minutes = IntegerField(
        _l("Buffer between appointments (minutes)"), validators=[InputRequired()]
    )
    max_active_bookings_per_email = IntegerField(
        _l("Upcoming bookings per e-mail address (at most)"), validators=[InputRequired()]
    )
    holiday_region = StringField(_l("Public holidays of (region)"))
    feed_shows_service = BooleanField(_l("Counsellors' calendar feeds name the service"))


class ServiceForm(FlaskForm):
    slug = StringField(_l("Short name in addresses"))
    name_de = StringField(_l("Name in German"))
    name_en = StringField(_l("Name in English (optional)"))
    duration_minutes = IntegerField(_l("Duration (minutes)"), validators=[InputRequired()])
    buffer_minutes = IntegerField(_l("Buffer (minutes, optional)"), validators=[Optional()])
    online_bookable = BooleanField(_l("Families can book it online"))
    is_active = BooleanField(_l("Offered"))
    counsellors = SelectMultipleField(_l("Offered by"), coerce=int)


class StaffEditForm(FlaskForm):
    name = StringField(_l("Name"))
    languages = StringField(_l("Languages"))
    services = SelectMultipleField(_l("Services offered"), coerce=int)


class StaffCreateForm(StaffEditForm):
    email = EmailField(_l("E-mail address"))
    # Choices are set by the view; booking/administration.py checks the role.
    role = SelectField(_l("Role"), validate_choice=False)
    password = PasswordField(_l("Initial password"))


class StaffPasswordForm(FlaskForm):
    """A password an admin sets for a staff member (who must change it at next sign-in)."""

    password = PasswordField(_l("New password"))
    confirm = PasswordField(_l("New password again"))
