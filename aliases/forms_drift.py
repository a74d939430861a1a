"""Forms of the drift page and of the admin's adopt view: which server to read, and which
alias to adopt."""

from django import forms

from .vicidial.servers import server_label


def _server_field(servers: list[str]) -> forms.ChoiceField:
    return forms.ChoiceField(
        label="VICIdial server",
        choices=[(name, server_label(name)) for name in servers],
        help_text="Only servers whose database the portal may read are listed.",
    )


class DriftServerForm(forms.Form):
    """Servers with a database URL only: the comparison reads VICIdial's own tables."""

    def __init__(self, *args, servers: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["server"] = _server_field(servers)


class DriftAdoptForm(DriftServerForm):
    alias_id = forms.CharField(label="Alias ID", max_length=20)


class AdoptAllForm(DriftServerForm):
    """The admin's adopt view: every alias of the server that the inventory lacks."""
