"""Batches as the cross-cutting tests need them: an upload holding given requests, a bulk
approval whose call still waits, a paused one, and a CSV file the test client can send again."""

import secrets

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import SimpleUploadedFile

from aliases import services
from aliases.models import AliasRequest, RequestBatch
from aliases.services import bulk_approval

from .base import submit

CSV_HEADER = b"kind,alias_id,alias_name,phone_logins,justification\r\n"


def upload_batch(creator: AbstractBaseUser, *requests: AliasRequest) -> RequestBatch:
    """A CSV upload's batch holding `requests`, as the upload would leave it."""
    batch = RequestBatch.objects.create(
        kind=RequestBatch.Kind.UPLOAD,
        created_by=creator,
        filename="requests.csv",
        file_sha256=secrets.token_hex(32),
        row_count=len(requests),
    )
    AliasRequest.objects.filter(pk__in=[r.pk for r in requests]).update(upload_batch=batch)
    return batch


def queued_batch(requester, approver, alias_id: str) -> RequestBatch:
    """A bulk approval of one new request whose call the worker has not taken yet (the
    test backend would otherwise make it at once)."""
    alias_request = submit(requester, alias_id=alias_id)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bulk_approval, "call_enqueue", lambda pk, context=None: None)
        return services.requests_approve_many(request_ids=[alias_request.pk], actor=approver)


def paused_batch(requester, approver, alias_id: str) -> RequestBatch:
    batch = queued_batch(requester, approver, alias_id)
    return services.batch_pause(batch_id=batch.pk, actor=approver)


class CsvUpload(SimpleUploadedFile):
    """An uploaded CSV file the same test can post more than once: the test client reads
    a file to its end and never rewinds it."""

    def read(self, *args, **kwargs) -> bytes:
        self.seek(0)
        return super().read(*args, **kwargs)


def csv_upload(*rows: str, name: str = "requests.csv") -> CsvUpload:
    """A valid-looking upload of `rows` ("add,alias_id,Name,1001,Why." each)."""
    content = CSV_HEADER + b"".join(row.encode() + b"\r\n" for row in rows)
    return CsvUpload(name, content, content_type="text/csv")
