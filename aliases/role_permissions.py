"""Granting role groups their permissions; used by data migrations with historical models."""

from django.contrib.auth.management import create_permissions

# What each role holds today; data migrations grant it step by step.
ROLE_PERMISSIONS = {
    "Supervisors": [
        "add_aliasrequest",
        "view_aliasrequest",
        "cancel_own_aliasrequest",
        "view_alias",
    ],
    # Admins also ask for changes (a disable, an enable); another admin decides them.
    "Admins": [
        "add_aliasrequest",
        "cancel_own_aliasrequest",
        "view_alias",
        "adopt_alias",
        "check_drift_alias",
        "view_aliasrequest",
        "view_all_aliasrequests",
        "decide_aliasrequest",
        "view_requestedlogin",
        "view_vicidialcall",
        "view_auditevent",
        "view_auditdigest",
        "view_extension",
    ],
    "Auditors": [
        "view_aliasrequest",
        "view_all_aliasrequests",
        "view_requestedlogin",
        "view_vicidialcall",
        "view_auditevent",
        "view_auditdigest",
        "view_extension",
        "export_auditevent",
        "view_alias",
        "check_drift_alias",
    ],
}


def grant(apps, mapping: dict[str, list[str]]) -> None:
    # Permissions normally appear after the last migration; these groups need them now.
    app_config = apps.get_app_config("aliases")
    models_module = getattr(app_config, "models_module", None)
    app_config.models_module = models_module or True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = models_module

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, codenames in mapping.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        permissions = list(
            Permission.objects.filter(content_type__app_label="aliases", codename__in=codenames)
        )
        missing = set(codenames) - {permission.codename for permission in permissions}
        if missing:
            raise RuntimeError(f"Permissions missing for {group_name}: {sorted(missing)}")
        group.permissions.add(*permissions)
