"""One VICIdial database and one inventory that differ in every way drift knows, and the
rows the comparison must find."""

from aliases.models import Alias

from .inventory_helpers import adopted_alias

DISABLED = Alias.State.DISABLED
PHONES = ("1001", "1002", "1003", "1004", "cc100", "bb100")

# (kind, alias ID as the row names it) for every difference seeded below.
EXPECTED_ROWS = {
    ("only_in_vicidial", "only_there"),
    ("only_in_vicidial", "ghost"),
    ("dead_logins", "ghost"),
    ("missing_in_vicidial", "missing"),
    ("disabled_but_present", "disabled_one"),
    ("name_differs", "renamed"),
    ("logins_differ", "moved"),
    ("dead_logins", "dead_here"),
    ("dead_logins", "all_dead"),
    ("logins_differ", "mixed"),
    ("dead_logins", "mixed"),
}


def seed_every_kind(vicidial_db) -> dict[str, Alias]:
    """VICIdial's tables and the inventory, with every kind of difference (and aliases that
    agree once case and order are ignored)."""
    for login in PHONES:
        vicidial_db.add_phone(login)
    vicidial_db.add_alias("only_there", "Only there", "1001,1002")
    vicidial_db.add_alias("ghost", "Ghost", "1003,9999")
    vicidial_db.add_alias("disabled_one", "Disabled", "1001")
    vicidial_db.add_alias("renamed", "Old name", "1001,1002")
    vicidial_db.add_alias("moved", "Moved", "1001,1003")
    vicidial_db.add_alias("dead_here", "Dead here", "1001,9999")
    vicidial_db.add_alias("all_dead", "All dead", "9999")
    # Only there: 8888, a login no phone has; the inventory's 1004 is simply not there.
    vicidial_db.add_alias("mixed", "Mixed", "1001,8888")
    # The same as the inventory's, but for letter case (alias ID and logins) and order.
    vicidial_db.add_alias("Case_Logins", "Case", "CC100,bb100")
    vicidial_db.add_alias("in_step", "In step", "1001,1002")
    return {
        "disabled_one": adopted_alias("disabled_one", ["1001"], name="Disabled", state=DISABLED),
        "renamed": adopted_alias("renamed", ["1002", "1001"], name="New name"),
        "moved": adopted_alias("moved", ["1001", "1002"], name="Moved"),
        "dead_here": adopted_alias("dead_here", ["1001", "9999"], name="Dead here"),
        "all_dead": adopted_alias("all_dead", ["9999"], name="All dead"),
        "mixed": adopted_alias("mixed", ["1001", "1004"], name="Mixed"),
        "case_logins": adopted_alias("case_logins", ["BB100", "cc100"], name="Case"),
        "in_step": adopted_alias("in_step", ["1001", "1002"], name="In step"),
        "missing": adopted_alias("missing", ["1001"], name="Missing"),
        "gone_disabled": adopted_alias("gone_disabled", ["1001"], name="Gone", state=DISABLED),
    }


def vicidial_tables(vicidial_db) -> tuple[list[tuple], list[tuple]]:
    """Every row of both tables, to show that nothing wrote to them."""
    return (
        vicidial_db.execute("SELECT * FROM phones_alias ORDER BY alias_id"),
        vicidial_db.execute("SELECT * FROM phones ORDER BY login"),
    )
