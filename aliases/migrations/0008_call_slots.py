from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("aliases", "0007_audit_keys")]

    operations = [
        migrations.AddField(
            model_name="vicidialcall",
            name="response_bytes",
            field=models.PositiveBigIntegerField(
                blank=True, null=True, verbose_name="response size in bytes"
            ),
        ),
        migrations.AddField(
            model_name="vicidialcall",
            name="response_truncated",
            field=models.BooleanField(default=False),
        ),
        migrations.CreateModel(
            name="VicidialCallSlot",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("server", models.CharField(default="default", max_length=40)),
                ("number", models.PositiveSmallIntegerField()),
                ("holder", models.CharField(blank=True, max_length=32)),
                ("acquired_at", models.DateTimeField(blank=True, null=True)),
                ("expires_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "verbose_name": "VICIdial call slot",
                "ordering": ["server", "number"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("server", "number"), name="vicidialcallslot_unique"
                    )
                ],
            },
        ),
    ]
