"""The one set of rules (aliases.predicates) and everyone who asks it: pages, admin, services."""

import pytest
import rules
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from aliases import predicates, selectors, services
from aliases.errors import FourEyesViolation
from aliases.models import AliasRequest

from .base import submit

Status = AliasRequest.Status
PERSONAS = ["supervisor", "supervisor2", "admin", "admin2", "auditor", "outsider"]


@pytest.fixture
def requests_by_state(users):
    """One request of supervisor's per status a page offers something on."""
    made = {}
    for status in (Status.PENDING, Status.NEEDS_VERIFICATION, Status.SUCCEEDED):
        alias_request = submit(users["supervisor"], alias_id=f"state_{status[:12]}")
        AliasRequest.objects.filter(pk=alias_request.pk).update(status=status)
        alias_request.refresh_from_db()
        made[status] = alias_request
    return made


# persona: (sees it, can_decide, can_cancel, can_settle/can_retry) on supervisor's request.
EXPECTED = {
    "supervisor": (True, False, True, False),
    "supervisor2": (False, False, False, False),
    "admin": (True, True, False, True),
    "admin2": (True, True, False, True),
    "auditor": (True, False, False, False),
    "outsider": (False, False, False, False),
}


@pytest.mark.parametrize("persona", PERSONAS)
def test_what_each_role_may_do_with_a_request(users, requests_by_state, persona):
    user = users[persona]
    sees, decides, cancels, settles = EXPECTED[persona]
    pending = requests_by_state[Status.PENDING]
    unverified = requests_by_state[Status.NEEDS_VERIFICATION]
    done = requests_by_state[Status.SUCCEEDED]
    assert predicates.sees_request.test(user, pending) is sees
    assert predicates.offers(user, pending) == {
        "can_decide": decides,
        "can_cancel": cancels,
        "can_retry": False,
        "can_settle": False,
    }
    assert predicates.offers(user, unverified) == {
        "can_decide": False,
        "can_cancel": False,
        "can_retry": settles,
        "can_settle": settles,
    }
    assert not any(predicates.offers(user, done).values())
    # Registered with django-rules, so has_perm(perm, obj) gives the same answers.
    assert user.has_perm("aliases.see_request", pending) is sees
    assert rules.has_perm("aliases.decide_request", user, pending) is decides


@pytest.mark.parametrize("persona", PERSONAS)
def test_lists_filter_exactly_what_the_rule_lets_one_see(users, persona):
    for owner in ("supervisor", "supervisor2", "admin"):
        users[owner].groups.add(*users["supervisor"].groups.all())
        submit(users[owner], alias_id=f"by_{owner}")
    user = users[persona]
    listed = set(selectors.alias_requests_visible_to(user=user))
    assert listed == {
        r for r in AliasRequest.objects.all() if predicates.sees_request.test(user, r)
    }


def test_four_eyes_holds_for_an_admin_who_also_requests(users):
    admin = users["admin"]
    admin.groups.add(*users["supervisor"].groups.all())
    own = submit(admin, alias_id="own_one")
    assert predicates.offers(admin, own)["can_decide"] is False
    assert predicates.offers(admin, own)["can_cancel"] is True
    with pytest.raises(FourEyesViolation):
        services.alias_request_approve(request_id=own.pk, actor=admin)


def test_four_eyes_holds_for_a_superuser_too(users):
    """Django's has_perm says yes to a superuser for everything; the predicates do not."""
    root = get_user_model().objects.create_superuser("root", password="x")
    own = AliasRequest.objects.create(
        alias_id="root_own", alias_name="Root", justification="x", requester=root
    )
    assert predicates.offers(root, own)["can_decide"] is False
    with pytest.raises(FourEyesViolation):
        services.alias_request_reject(request_id=own.pk, actor=root, note="mine")


def test_an_inactive_admin_may_do_nothing(users, requests_by_state):
    admin = users["admin"]
    admin.is_active = False
    admin.save()
    assert not any(predicates.offers(admin, requests_by_state[Status.PENDING]).values())
    with pytest.raises(PermissionDenied):
        services.alias_request_approve(request_id=requests_by_state[Status.PENDING].pk, actor=admin)


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_request_page_offers_what_the_predicates_allow(
    client_for, users, requests_by_state, persona
):
    for alias_request in requests_by_state.values():
        response = client_for(persona).get(
            reverse("aliases:request_detail", args=[alias_request.pk])
        )
        if not predicates.sees_request.test(users[persona], alias_request):
            assert response.status_code == 404
            continue
        offered = {name: response.context[name] for name in predicates.OFFERS}
        assert offered == predicates.offers(users[persona], alias_request)
        page = response.content.decode()
        assert ('data-testid="decision-form"' in page) is offered["can_decide"]
        assert ('data-testid="settle-form"' in page) is offered["can_settle"]
        assert ("Cancel this request" in page) is offered["can_cancel"]
