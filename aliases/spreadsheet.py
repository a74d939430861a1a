"""CSV cells a spreadsheet must not run: the audit export's and the drift report's.

A spreadsheet runs a cell starting with one of FORMULA_STARTS as a formula, and such cells
reach both files from outside: a failed log-in's username, a User-Agent, an alias name
VICIdial allows "+", "-" and "@" in. OWASP: prefix a single quote.
"""

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """`value` with a single quote in front if a spreadsheet would run it; anything that is
    not text as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
