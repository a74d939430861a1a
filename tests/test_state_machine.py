import pytest

from aliases.errors import InvalidTransition
from aliases.models import AliasRequest

Status = AliasRequest.Status

ALLOWED = {
    (Status.PENDING, Status.QUEUED),
    (Status.PENDING, Status.REJECTED),
    (Status.PENDING, Status.CANCELLED),
    (Status.QUEUED, Status.CALLING),
    # The worker cannot build the call: a first approval failed unsent, a retry stays unknown.
    (Status.QUEUED, Status.FAILED),
    (Status.QUEUED, Status.NEEDS_VERIFICATION),
    # A paused bulk approval's waiting calls, withdrawn.
    (Status.QUEUED, Status.CANCELLED),
    (Status.CALLING, Status.SUCCEEDED),
    (Status.CALLING, Status.FAILED),
    (Status.CALLING, Status.NEEDS_VERIFICATION),
    (Status.NEEDS_VERIFICATION, Status.QUEUED),
    (Status.NEEDS_VERIFICATION, Status.SUCCEEDED),
    (Status.NEEDS_VERIFICATION, Status.FAILED),
}
EVERY_PAIR = [(a, b) for a in Status for b in Status]


@pytest.mark.parametrize(("start", "target"), sorted(ALLOWED))
def test_allowed_moves(start, target):
    alias_request = AliasRequest(status=start)
    alias_request.move_to(target)
    assert alias_request.status == target


@pytest.mark.parametrize(("start", "target"), [p for p in EVERY_PAIR if p not in ALLOWED])
def test_every_other_move_raises_and_changes_nothing(start, target):
    alias_request = AliasRequest(pk=7, status=start)
    with pytest.raises(InvalidTransition):
        alias_request.move_to(target)
    assert alias_request.status == start


@pytest.mark.parametrize(
    "status", [Status.SUCCEEDED, Status.FAILED, Status.REJECTED, Status.CANCELLED]
)
def test_final_states_have_no_way_out(status):
    alias_request = AliasRequest(status=status)
    assert alias_request.is_final
    assert not any(alias_request.can_move_to(target) for target in Status)
