"""The three portal roles as groups, with exactly the permissions each role needs."""

from django.db import migrations

from aliases.role_permissions import grant

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
    grant(apps, ROLE_PERMISSIONS)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_PERMISSIONS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("aliases", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
