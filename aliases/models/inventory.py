"""The alias inventory: the portal's record of every alias on every VICIdial server."""

from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from ..vicidial.servers import DEFAULT_SERVER, SERVER_NAME_MAX_LENGTH


class Alias(models.Model):
    """One alias on one server, as the last successful request (or adoption) left it.

    Disabled means removed from VICIdial, which has no active flag: the row keeps the name
    and phone logins so the alias can be enabled again. Only services/inventory.py writes
    it, in the transaction of the request's final step.
    """

    class State(models.TextChoices):
        ACTIVE = "active", "Active in VICIdial"
        DISABLED = "disabled", "Disabled (removed from VICIdial)"

    class Origin(models.TextChoices):
        PORTAL = "portal", "Created through the portal"
        ADOPTED = "adopted", "Adopted from VICIdial"

    server = models.CharField(max_length=SERVER_NAME_MAX_LENGTH, default=DEFAULT_SERVER)
    alias_id = models.CharField("alias ID", max_length=20)
    alias_name = models.CharField(max_length=50)
    state = models.CharField(max_length=10, choices=State, default=State.ACTIVE)
    origin = models.CharField(max_length=10, choices=Origin, default=Origin.PORTAL)
    last_request = models.ForeignKey(
        "AliasRequest",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The request that last changed this alias (none if adopted and untouched).",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["server", Lower("alias_id")]
        verbose_name_plural = "aliases"
        # The unique index below leads with the server; a search by alias ID alone needs this.
        indexes = [models.Index(Lower("alias_id"), name="alias_alias_id_ci")]
        permissions = [
            ("adopt_alias", "Can adopt aliases from VICIdial into the inventory"),
            ("check_drift_alias", "Can compare the inventory with VICIdial's database"),
        ]
        constraints = [
            # VICIdial's alias_id is its primary key under a case-insensitive collation.
            models.UniqueConstraint("server", Lower("alias_id"), name="alias_unique_per_server"),
            models.CheckConstraint(
                condition=Q(state__in=["active", "disabled"]), name="alias_state_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.alias_id} ({self.server})"

    @property
    def is_active(self) -> bool:
        return self.state == self.State.ACTIVE

    def logins_in_order(self) -> list[str]:
        return [row.login for row in self.logins.all()]


class AliasLogin(models.Model):
    """One phone login an alias rings: one row each, so "which aliases ring 1001" is exact."""

    alias = models.ForeignKey(Alias, on_delete=models.CASCADE, related_name="logins")
    # Not limited to a phone login's 15: an adopted alias keeps whatever VICIdial's 255-wide
    # logins_list holds, and drift reports the logins no phone has.
    login = models.CharField(max_length=255)
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["alias", "position"]
        constraints = [
            models.UniqueConstraint("alias", Lower("login"), name="aliaslogin_unique_per_alias"),
        ]
        indexes = [models.Index(Lower("login"), name="aliaslogin_login_ci")]

    def __str__(self) -> str:
        return self.login
