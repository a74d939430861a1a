"""aliases.auth_backends: a user's permissions and roles in one query, with the answers
Django's ModelBackend and roles_of give, kept on the user object only (one request)."""

import pytest
from django.contrib.auth import BACKEND_SESSION_KEY, get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse

from aliases import predicates
from aliases.roles import Role, roles_of

from .base import PASSWORD, PERSONAS

User = get_user_model()


def fresh(user):
    """The user as the next request loads it: no cache of any kind."""
    return User.objects.get(pk=user.pk)


def as_model_backend(user) -> tuple[set[str], set[str], list[Role]]:
    """What Django's ModelBackend and a groups query answer, with this backend out of it."""
    user = fresh(user)
    backend = ModelBackend()
    names = set(user.groups.values_list("name", flat=True))
    return (
        backend.get_user_permissions(user),
        backend.get_group_permissions(user),
        [role for role in Role if role.value in names],
    )


def as_the_portal(user) -> tuple[set[str], set[str], list[Role]]:
    user = fresh(user)
    user.has_perm("aliases.add_aliasrequest")  # what the first predicate of a page does
    return user.get_user_permissions(), user.get_group_permissions(), roles_of(user)


@pytest.fixture
def mixed_user(users):
    """A supervisor who also holds one permission of their own, and an empty group."""
    user = users["supervisor"]
    user.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    user.groups.add(Group.objects.create(name="No permissions at all"))
    return user


@pytest.mark.parametrize("persona", list(PERSONAS))
def test_every_persona_gets_what_model_backend_gives(users, persona):
    assert as_the_portal(users[persona]) == as_model_backend(users[persona])


def test_own_permissions_and_groups_without_permissions_count_too(mixed_user):
    own, from_groups, roles = as_the_portal(mixed_user)
    assert own == {"aliases.view_auditevent"}
    assert "aliases.add_aliasrequest" in from_groups
    assert roles == [Role.SUPERVISOR]
    assert (own, from_groups, roles) == as_model_backend(mixed_user)
    assert predicates.may_read_audit.test(fresh(mixed_user))


def test_a_role_whose_group_lost_every_permission_is_still_a_role(users):
    Group.objects.get(name=Role.AUDITOR.value).permissions.clear()
    user = fresh(users["auditor"])
    assert not user.has_perm("aliases.view_auditevent")
    assert roles_of(user) == [Role.AUDITOR]


def test_permissions_and_roles_cost_one_query(users, django_assert_num_queries):
    user = fresh(users["admin"])
    with django_assert_num_queries(1):
        assert predicates.is_decider.test(user)
        assert not user.has_perm("aliases.no_such_permission")
        assert roles_of(user) == [Role.ADMIN]
        user.get_all_permissions()


def test_inactive_and_anonymous_users_hold_nothing(users, django_assert_num_queries):
    User.objects.filter(pk=users["admin"].pk).update(is_active=False)
    inactive = fresh(users["admin"])
    with django_assert_num_queries(0):
        assert not inactive.has_perm("aliases.decide_aliasrequest")
        assert inactive.get_all_permissions() == set()
    assert (
        not Client()
        .get(reverse("aliases:home"))
        .wsgi_request.user.has_perm("aliases.view_aliasrequest")
    )


def test_a_superuser_still_holds_every_permission(db):
    superuser = User.objects.create_superuser("root", "root@example.com", PASSWORD)
    assert fresh(superuser).get_all_permissions() == {
        f"{app_label}.{codename}"
        for app_label, codename in Permission.objects.values_list(
            "content_type__app_label", "codename"
        )
    }


def test_an_object_permission_is_left_to_the_rules(users):
    assert fresh(users["admin"]).get_all_permissions(obj=users["supervisor"]) == set()


def test_a_role_taken_away_counts_from_the_next_request(users, client_for):
    client = client_for("admin")
    assert client.get(reverse("aliases:home")).context["is_admin"]
    users["admin"].groups.remove(Group.objects.get(name=Role.ADMIN.value))
    response = client.get(reverse("aliases:home"))
    assert not response.context["is_admin"]
    assert not predicates.is_decider.test(response.wsgi_request.user)


def test_a_page_reads_permissions_and_roles_once(client_for, django_assert_max_num_queries):
    client = client_for("supervisor")
    # The session, the user, permissions with roles, the form's extensions.
    with django_assert_max_num_queries(4):
        assert client.get(reverse("aliases:request_new")).status_code == 200


def test_logins_still_go_through_model_backend(users):
    client = Client()
    response = client.post(
        reverse("login"), {"username": "supervisor", "password": PASSWORD}, follow=False
    )
    assert response.status_code == 302
    # Sessions keep naming ModelBackend: the ones made before this backend stay valid.
    assert client.session[BACKEND_SESSION_KEY] == "django.contrib.auth.backends.ModelBackend"
    assert client.get(reverse("aliases:request_new")).status_code == 200
