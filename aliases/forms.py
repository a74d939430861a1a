import uuid

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms
from django.utils import timezone

from .models import AliasRequest, AuditEvent
from .validators import (
    LOGIN_MAX_LENGTH,
    parse_phone_logins,
    validate_alias_id,
    validate_alias_name,
    validate_phone_login,
)
from .vicidial.servers import has_several_servers, server_choices


class SubmissionForm(forms.Form):
    """A form that creates a request. Its one-time token is spent by the first submission,
    so a double post creates one request."""

    submit_label = "Submit request"
    submission_token = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("initial", {}).setdefault("submission_token", uuid.uuid4())
        super().__init__(*args, **kwargs)
        self.token_was_missing = False
        if self.is_bound and not self.data.get("submission_token"):
            # Refuse this post, but hand out a fresh token so the redisplayed form works.
            self.token_was_missing = True
            self.data = self.data.copy()
            self.data["submission_token"] = str(self.initial["submission_token"])
        self.helper = FormHelper()
        self.helper.add_input(Submit("submit", self.submit_label))

    def clean(self):
        if self.token_was_missing:
            raise forms.ValidationError(
                "This form had expired. Check the values and submit again.", code="no_token"
            )
        return super().clean()


class AliasRequestForm(SubmissionForm):
    alias_id = forms.CharField(
        label="Alias ID",
        max_length=20,
        validators=[validate_alias_id],
        help_text="2 to 20 letters, digits, - or _. VICIdial ignores letter case.",
    )
    alias_name = forms.CharField(
        max_length=50,
        strip=False,
        validators=[validate_alias_name],
        help_text="2 to 50 characters: letters, digits, space and - + . : / @ _",
    )
    phone_logins = forms.CharField(
        label="Phone logins",
        max_length=400,
        help_text="The phones this alias rings, separated by commas, e.g. 1001, 1002.",
    )
    justification = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        help_text="Why is the alias needed? The approving admin sees this.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # With one server there is nothing to choose: the request goes to `default`.
        if has_several_servers():
            self.fields["server"] = forms.ChoiceField(
                label="VICIdial server", choices=server_choices()
            )
            self.order_fields(["server"])

    def clean_phone_logins(self) -> list[str]:
        return parse_phone_logins(self.cleaned_data["phone_logins"])


class SettleForm(forms.Form):
    # Radio buttons: a choice field's default <select> was rendered option by option, which
    # left bare <option> elements that no browser could submit.
    done_in_vicidial = forms.TypedChoiceField(
        label="Is the alias in VICIdial?",
        choices=[("yes", "The alias is in VICIdial"), ("no", "The alias is not in VICIdial")],
        coerce=lambda value: value == "yes",
        widget=forms.RadioSelect,
        error_messages={"required": "Say whether the alias is in VICIdial."},
    )
    note = forms.CharField(
        label="What did you check in VICIdial?",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Say what you checked in VICIdial."},
    )
    # The question each kind asks; "yes" is always "done in VICIdial".
    QUESTIONS = {
        AliasRequest.Kind.DISABLE: (
            "Is the alias gone from VICIdial?",
            "Yes: it is gone from VICIdial (done)",
            "No: VICIdial still holds it (not done)",
        ),
    }
    HOLDS_IT = (
        "Is the alias in VICIdial with these values?",
        "Yes: VICIdial holds it with these values (done)",
        "No: VICIdial does not hold it like this (not done)",
    )

    def __init__(self, *args, kind: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if kind is not None:
            question, done, not_done = self.QUESTIONS.get(kind, self.HOLDS_IT)
            field = self.fields["done_in_vicidial"]
            field.label = question
            field.choices = [("yes", done), ("no", not_done)]
        self.helper = FormHelper()
        self.helper.form_tag = False  # the page's <form> carries the request's settle URL


class DecisionForm(forms.Form):
    note = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2, "class": "form-control mb-2"}),
        label="Note",
        help_text="Shown to the requester. Required when rejecting.",
    )


class ApprovalForm(DecisionForm):
    # The signed pre-flight checks the page showed, for the approval's audit event.
    preflight_shown = forms.CharField(required=False, widget=forms.HiddenInput, max_length=20_000)


def add_server_filter(form: forms.Form) -> None:
    """A server filter for a list, when there is more than one server to tell apart."""
    if has_several_servers():
        form.fields["server"] = forms.ChoiceField(
            label="VICIdial server",
            required=False,
            choices=[("", "Any server"), *server_choices()],
        )


class RequestSearchForm(forms.Form):
    alias_id = forms.CharField(required=False, max_length=20, label="Alias ID")
    login = forms.CharField(required=False, max_length=LOGIN_MAX_LENGTH, label="Exact phone login")
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *AliasRequest.Status.choices]
    )
    kind = forms.ChoiceField(required=False, choices=[("", "Any kind"), *AliasRequest.Kind.choices])

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        add_server_filter(self)


class AuditFilterForm(forms.Form):
    extension = forms.CharField(
        required=False,
        max_length=LOGIN_MAX_LENGTH,
        label="Exact extension",
        validators=[validate_phone_login],
    )
    alias_id = forms.CharField(required=False, max_length=20, label="Alias ID")
    actor = forms.CharField(required=False, max_length=150, label="Actor (username)")
    correlation_id = forms.CharField(required=False, max_length=32, label="Correlation ID")
    event_type = forms.ChoiceField(
        required=False, choices=[("", "Any event"), *AuditEvent.Type.choices]
    )
    outcome = forms.CharField(required=False, max_length=40)
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Days begin and end at midnight of the zone the pages show times in.
        zone = timezone.get_current_timezone_name()
        self.fields["since"].label = f"Since (day, {zone})"
        self.fields["until"].label = f"Until (day, {zone}, included)"
        add_server_filter(self)

    def active_filters(self) -> dict[str, object]:
        """The filters in effect, as recorded in the audit trail when someone looks."""
        if not self.is_valid():
            return {}
        return {name: value for name, value in self.cleaned_data.items() if value}


SEQUENCE_MAX = 2**63 - 1  # the widest integer SQLite and PostgreSQL both compare


class EventCursorForm(forms.Form):
    """Where a page of the audit trail starts: before or after an event's sequence number."""

    before = forms.IntegerField(required=False, min_value=1, max_value=SEQUENCE_MAX)
    # after=0: the oldest page, reached as directly as the newest.
    after = forms.IntegerField(required=False, min_value=0, max_value=SEQUENCE_MAX)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("before") is not None and cleaned.get("after") is not None:
            raise forms.ValidationError("A page starts before an event or after one, not both.")
        return cleaned
