"""The upload page in real Chromium at a phone's width: choose a file, untick all or nothing,
upload, and read which rows were skipped; the CSP must not trip."""

import pytest

from aliases.models import RequestBatch

from .inventory_helpers import adopted_alias
from .test_browser import browser, log_in, page  # noqa: F401 - fixtures
from .test_bulk_upload import BAD_ROWS, GOOD_ROWS, csv_bytes

pytestmark = pytest.mark.browser


def test_a_file_with_bad_rows_uploaded_row_by_row(page, users, tmp_path):  # noqa: F811
    adopted_alias("support_line", ["1003", "1004"], name="Support")
    adopted_alias("old_desk", ["1005"], name="Old desk", state="disabled")
    path = tmp_path / "requests.csv"
    path.write_bytes(csv_bytes(*GOOD_ROWS, *BAD_ROWS))
    log_in(page, "supervisor")
    page.set_viewport_size({"width": 390, "height": 844})

    page.goto("/requests/new/")
    page.get_by_role("link", name="Upload them from a CSV file").click()
    page.get_by_label("CSV file").set_input_files(str(path))
    page.get_by_label("All or nothing").uncheck()
    page.get_by_role("button", name="Upload").click()

    batch = RequestBatch.objects.get()
    outcome = page.get_by_test_id("upload-outcome")
    assert f"3 requests created as batch #{batch.pk}" in outcome.inner_text()
    table = page.get_by_role("table", name="Rows with problems")
    assert table.get_by_role("row").count() == 1 + 5
    # The table scrolls inside its own container: the page itself keeps the phone's width.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(tmp_path / "upload.png"), full_page=True)
    outcome.get_by_role("link", name=f"Open batch #{batch.pk}").click()
    page.wait_for_url(f"**/batches/{batch.pk}/")
