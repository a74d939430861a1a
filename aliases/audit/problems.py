"""The words verify_audit names a problem in, shared by every way of walking the chain, so
the database's parallel walk and the export's walk say exactly the same thing."""


def out_of_order(sequence: int, last: int) -> str:
    return f"event #{sequence} comes after #{last}: out of order"


def missing(expected: int, sequence: int) -> str:
    gone = f"#{expected}" if sequence == expected + 1 else f"#{expected}..."
    return f"event {gone} is missing: removed from before #{sequence}"


def unlinked(sequence: int, last: int) -> str:
    return (
        f"event #{sequence} does not link to #{last}: "
        "inserted out of place, or the event before it was rewritten"
    )


def link_problem(sequence: int, prev_hash: str, last: int, last_hash: str) -> str:
    """What is wrong with event #sequence (linking to prev_hash) following #last (last_hash)."""
    expected = last + 1
    if sequence < expected:
        return out_of_order(sequence, last)
    if sequence != expected:
        return missing(expected, sequence)
    if prev_hash != last_hash:
        return unlinked(sequence, last)
    return ""


def altered(sequence: int) -> str:
    return f"event #{sequence} was altered after it was written"


def unkeyed_after_keyed(sequence: int, first_keyed: int) -> str:
    return (
        f"event #{sequence} has no MAC although #{first_keyed} before it has "
        "one: written without the audit key (forged), or its MAC was removed"
    )


def unknown_key(sequence: int, key_id: str) -> str:
    return (
        f"event #{sequence} names MAC key {key_id!r}, which AUDIT_HMAC_KEYS does not "
        "hold: forged, or a retired key was dropped from the ring too early"
    )


def bad_mac(sequence: int, key_id: str) -> str:
    return (
        f"event #{sequence}: its MAC does not verify with key {key_id!r}: written or "
        "rewritten (and re-hashed) by someone without the audit key"
    )


def digest_differs(sequence: int, description: str) -> str:
    return (
        f"event #{sequence} differs from what {description} saw: "
        "the trail was rewritten (and re-hashed) since"
    )


def cut_off(last: int, description: str, seen: int) -> str:
    return f"the chain ends at #{last} but {description} saw #{seen}: events were cut off the end"


def index_problem(sequence: int, extensions: list[str], logins: list[str]) -> str:
    """The per-extension index holds `logins` for an event naming `extensions`; compared
    without regard to case, as VICIdial compares logins."""
    indexed = {login.lower() for login in logins}
    named = {login.lower() for login in extensions}
    if named == indexed:
        return ""
    if named - indexed:
        return (
            f"event #{sequence}: the per-extension index lacks {sorted(named - indexed)}: "
            "its rows were deleted"
        )
    return (
        f"event #{sequence}: the per-extension index adds {sorted(indexed - named)}, "
        "which the event does not name: rows were inserted"
    )
