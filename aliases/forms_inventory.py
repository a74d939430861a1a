"""Forms of the inventory pages: the search, and the requests to change, disable or enable
an alias the inventory holds."""

from django import forms

from .forms import AliasRequestForm, SubmissionForm, add_server_filter
from .models import Alias
from .validators import LOGIN_MAX_LENGTH, parse_phone_logins


class InventorySearchForm(forms.Form):
    alias_id = forms.CharField(required=False, max_length=20, label="Alias ID contains")
    login = forms.CharField(required=False, max_length=LOGIN_MAX_LENGTH, label="Exact phone login")
    state = forms.ChoiceField(required=False, choices=[("", "Any state"), *Alias.State.choices])

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        add_server_filter(self)


def _justification(question: str) -> forms.CharField:
    return forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        help_text=f"{question} The approving admin sees this.",
    )


class AliasChangeForm(SubmissionForm):
    submit_label = "Ask for this change"
    # The add form's own fields: a change is held to exactly the same rules.
    alias_name = AliasRequestForm.base_fields["alias_name"]
    phone_logins = AliasRequestForm.base_fields["phone_logins"]
    justification = _justification("Why does the alias need to change?")
    # Set when the drift page sent the values VICIdial holds: the request records that.
    from_vicidial = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def clean_phone_logins(self) -> list[str]:
        return parse_phone_logins(self.cleaned_data["phone_logins"])


class AliasDisableForm(SubmissionForm):
    submit_label = "Ask to disable it"
    justification = _justification("Why should the alias stop ringing?")


class AliasEnableForm(SubmissionForm):
    submit_label = "Ask to enable it"
    # Prefilled with what the inventory kept; a phone may be gone since it was disabled.
    alias_name = AliasRequestForm.base_fields["alias_name"]
    phone_logins = AliasRequestForm.base_fields["phone_logins"]
    justification = _justification("Why is the alias needed again?")

    def clean_phone_logins(self) -> list[str]:
        return parse_phone_logins(self.cleaned_data["phone_logins"])
