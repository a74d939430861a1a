"""The bulk upload form: a CSV file of requests (services/bulk_upload.py reads it)."""

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms

from .services.upload_csv import MAX_BYTES, MAX_ROWS


class RequestUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        widget=forms.FileInput(attrs={"accept": ".csv,text/csv"}),
        help_text=(
            f"UTF-8 CSV with a header row; at most {MAX_ROWS} rows and {MAX_BYTES // 1024} KB."
        ),
        error_messages={"required": "Choose the CSV file to upload."},
    )
    all_or_nothing = forms.BooleanField(
        label="All or nothing",
        required=False,
        initial=True,
        help_text=(
            "Create the requests only if every row is valid. Untick to create the valid rows "
            "and skip the others (they are listed after the upload)."
        ),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.add_input(Submit("submit", "Upload"))
