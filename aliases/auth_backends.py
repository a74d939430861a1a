"""A user's permissions and roles in one query instead of three.

Every page asks the predicates (aliases/predicates.py), which ask `user.has_perm`; Django's
ModelBackend then reads the user's own permissions and their groups' permissions in two
queries, and the navbar's roles (aliases/roles.py) read the groups in a third. Those three
were three of the six to eleven queries of each page in bench/load.py's mix. This
backend reads all of it at once, into the very caches ModelBackend and roles_of keep on
the user object, so both answer from them; the answers are the same, and live as long (one
request, or one task).
"""

from django.db import connection

from .roles import remember_roles

# The user's groups, each with its permissions (a group without any still makes a role),
# then the user's own permissions, with no group name. The tables are django.contrib.auth's
# for its own User model, which the portal uses.
PERMISSIONS_AND_GROUPS = """
SELECT g.name, ct.app_label, p.codename
FROM auth_user_groups ug
INNER JOIN auth_group g ON g.id = ug.group_id
LEFT OUTER JOIN auth_group_permissions gp ON gp.group_id = g.id
LEFT OUTER JOIN auth_permission p ON p.id = gp.permission_id
LEFT OUTER JOIN django_content_type ct ON ct.id = p.content_type_id
WHERE ug.user_id = %s
UNION ALL
SELECT NULL, ct.app_label, p.codename
FROM auth_user_user_permissions up
INNER JOIN auth_permission p ON p.id = up.permission_id
INNER JOIN django_content_type ct ON ct.id = p.content_type_id
WHERE up.user_id = %s
"""


class OnePermissionQueryBackend:
    """Grants nothing by itself: it fills the caches, and ModelBackend, after it, answers
    from them. It signs nobody in and loads no user (no get_user), so sessions and
    force_login keep naming ModelBackend, and a failed login costs one password hash."""

    def authenticate(self, request, **credentials):
        return None

    def has_perm(self, user_obj, perm, obj=None) -> bool:
        _warm(user_obj, obj)
        return False

    def has_module_perms(self, user_obj, app_label) -> bool:
        _warm(user_obj, None)
        return False

    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        _warm(user_obj, obj)
        return set()


def _warm(user_obj, obj) -> None:
    # As ModelBackend: no permissions for an object, an inactive or an anonymous user; and a
    # superuser's (every permission) it reads as it always has.
    if obj is not None or not user_obj.is_active or user_obj.is_anonymous:
        return
    if not user_obj.is_superuser and not hasattr(user_obj, "_perm_cache"):
        load_permissions_and_roles(user_obj)


def load_permissions_and_roles(user) -> None:
    """Fill ModelBackend's three permission caches and roles_of's cache on `user`."""
    group_names, from_groups, own = set(), set(), set()
    with connection.cursor() as cursor:
        cursor.execute(PERMISSIONS_AND_GROUPS, [user.pk, user.pk])
        for group_name, app_label, codename in cursor.fetchall():
            permission = f"{app_label}.{codename}" if codename is not None else None
            if group_name is None:
                own.add(permission)
            else:
                group_names.add(group_name)
                if permission:
                    from_groups.add(permission)
    user._user_perm_cache = own
    user._group_perm_cache = from_groups
    user._perm_cache = own | from_groups
    remember_roles(user, group_names)
