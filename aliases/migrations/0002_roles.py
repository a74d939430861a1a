"""The three portal roles as groups, with exactly the permissions each role needs."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLE_PERMISSIONS = {
    "Supervisors": ["add_aliasrequest", "view_aliasrequest", "cancel_own_aliasrequest"],
    "Admins": [
        "view_aliasrequest",
        "view_all_aliasrequests",
        "decide_aliasrequest",
        "view_requestedlogin",
        "view_vicidialcall",
    ],
    "Auditors": [
        "view_aliasrequest",
        "view_all_aliasrequests",
        "view_requestedlogin",
        "view_vicidialcall",
    ],
}


def create_roles(apps, schema_editor):
    # Permissions normally appear after the last migration; these groups need them now.
    app_config = apps.get_app_config("aliases")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        permissions = Permission.objects.filter(
            content_type__app_label="aliases", codename__in=codenames
        )
        missing = set(codenames) - {permission.codename for permission in permissions}
        if missing:
            raise RuntimeError(f"Permissions missing for {group_name}: {sorted(missing)}")
        group.permissions.set(permissions)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_PERMISSIONS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("aliases", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
