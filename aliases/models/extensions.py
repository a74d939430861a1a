"""The phone catalogue, mirrored from VICIdial's `phones` table."""

from django.db import models
from django.db.models.functions import Lower

from ..validators import LOGIN_MAX_LENGTH
from ..vicidial.servers import DEFAULT_SERVER, SERVER_NAME_MAX_LENGTH


class Extension(models.Model):
    """A phone of one VICIdial server's catalogue (`phones`), by its login."""

    class Protocol(models.TextChoices):
        SIP = "SIP"
        IAX2 = "IAX2"
        ZAP = "Zap"
        EXTERNAL = "EXTERNAL"

    server = models.CharField(
        "VICIdial server", max_length=SERVER_NAME_MAX_LENGTH, default=DEFAULT_SERVER
    )
    login = models.CharField(max_length=LOGIN_MAX_LENGTH)
    extension = models.CharField(max_length=100, blank=True)
    protocol = models.CharField(max_length=10, choices=Protocol, default=Protocol.SIP)
    description = models.CharField(max_length=255, blank=True)
    server_ip = models.CharField("server IP", max_length=45, blank=True)
    known_to_vicidial = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["login", "server"]
        constraints = [
            models.UniqueConstraint(
                "server", Lower("login"), name="extension_login_unique_per_server"
            )
        ]
        # The unique index above leads with the server; a search by login alone needs this.
        indexes = [models.Index(Lower("login"), name="extension_login_ci")]

    def __str__(self) -> str:
        return f"{self.login} ({self.protocol})"
