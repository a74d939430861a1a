from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from .. import predicates, services
from ..audit import AuditContext
from ..errors import PortalError
from ..services.db_verification import VerificationNotDue
from .access import get_request_for_user, role_required


@require_POST
@role_required(predicates.is_decider)
def request_verify_db(request: HttpRequest, pk: int) -> HttpResponse:
    """Check VICIdial's database now for a request whose outcome is unknown."""
    alias_request = get_request_for_user(request, pk)
    try:
        alias_request = services.alias_request_verify_from_database(
            request_id=alias_request.pk,
            actor=request.user,
            context=AuditContext.from_request(request),
        )
    except VerificationNotDue as error:
        messages.info(request, str(error))
    except PortalError as error:
        messages.error(request, str(error))
    else:
        status = alias_request.get_status_display()
        messages.info(request, f"Checked VICIdial's database. Status: {status}.")
    return redirect("aliases:request_detail", pk=alias_request.pk)
