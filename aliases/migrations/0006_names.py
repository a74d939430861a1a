"""Names fixed before the lifecycle work copies them: "calling" is the state while VICIdial
is called (first approval or retry), a call's first result word is its keyword, and phone
logins are at most 15 characters as in VICIdial's phones.login."""

import django.db.models.functions.text
from django.conf import settings
from django.db import migrations, models


def approved_to_calling(apps, schema_editor):
    apps.get_model("aliases", "AliasRequest").objects.filter(status="approved").update(
        status="calling"
    )


def calling_to_approved(apps, schema_editor):
    apps.get_model("aliases", "AliasRequest").objects.filter(status="calling").update(
        status="approved"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("aliases", "0005_reliability"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="aliasrequest",
            name="aliasrequest_one_live_request_per_alias_id",
        ),
        migrations.RemoveConstraint(
            model_name="aliasrequest",
            name="aliasrequest_status_known",
        ),
        migrations.RenameField(
            model_name="vicidialcall",
            old_name="outcome",
            new_name="keyword",
        ),
        migrations.AlterField(
            model_name="aliasrequest",
            name="status",
            field=models.CharField(
                choices=[
                    ("pending", "Pending approval"),
                    ("calling", "Calling VICIdial"),
                    ("succeeded", "Created in VICIdial"),
                    ("failed", "Failed in VICIdial"),
                    ("needs_verification", "Outcome unknown: needs verification"),
                    ("rejected", "Rejected"),
                    ("cancelled", "Cancelled"),
                ],
                default="pending",
                max_length=20,
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="event_type",
            field=models.CharField(
                choices=[
                    ("request.created", "Request created"),
                    ("request.approved", "Request approved"),
                    ("request.rejected", "Request rejected"),
                    ("request.cancelled", "Request cancelled"),
                    ("request.succeeded", "Done in VICIdial"),
                    ("request.failed", "Failed in VICIdial"),
                    ("request.needs_verification", "Outcome unknown"),
                    ("request.completed", "Request outcome recorded"),
                    ("request.retried", "Request retried"),
                    ("request.verified", "Request verified by an admin"),
                    ("vicidial.call_reconciled", "Call left in flight marked unknown"),
                    ("vicidial.circuit_opened", "VICIdial calls stopped"),
                    ("vicidial.circuit_reset", "VICIdial calls resumed"),
                    ("vicidial.call", "VICIdial call made"),
                    ("access.denied", "Permission denied"),
                    ("auth.login", "Logged in"),
                    ("auth.login_failed", "Login failed"),
                    ("auth.logout", "Logged out"),
                    ("audit.viewed", "Audit viewed"),
                    ("audit.exported", "Audit exported"),
                    ("extensions.imported", "Extensions imported"),
                    ("extensions.synced", "Extensions synced from VICIdial"),
                ],
                max_length=40,
            ),
        ),
        migrations.AlterField(
            model_name="extension",
            name="login",
            field=models.CharField(max_length=15),
        ),
        migrations.AlterField(
            model_name="requestedlogin",
            name="login",
            field=models.CharField(max_length=15),
        ),
        migrations.AlterField(
            model_name="vicidialcall",
            name="result",
            field=models.CharField(
                choices=[
                    ("in_flight", "In flight"),
                    ("succeeded", "Succeeded"),
                    ("rejected", "Refused by VICIdial"),
                    ("auth_failed", "Credentials refused"),
                    ("not_sent", "Not sent"),
                    ("unknown", "Outcome unknown"),
                ],
                default="in_flight",
                max_length=20,
            ),
        ),
        migrations.RunPython(approved_to_calling, calling_to_approved),
        migrations.AddConstraint(
            model_name="aliasrequest",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("alias_id"),
                condition=models.Q(
                    ("status__in", ("pending", "calling", "succeeded", "needs_verification"))
                ),
                name="aliasrequest_one_live_request_per_alias_id",
            ),
        ),
        migrations.AddConstraint(
            model_name="aliasrequest",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "status__in",
                        [
                            "pending",
                            "calling",
                            "succeeded",
                            "failed",
                            "needs_verification",
                            "rejected",
                            "cancelled",
                        ],
                    )
                ),
                name="aliasrequest_status_known",
            ),
        ),
    ]
