import logging


class OneLineForbidden(logging.Filter):
    """Django logs every 403 with the PermissionDenied traceback; a refusal is not a bug.

    One line stays: the path, and the refusal's own message when it has one.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403 and record.exc_info:
            error = record.exc_info[1]
            record.exc_info = None
            record.exc_text = None
            reason = str(error or "")
            if reason:
                # As Django escapes the path: a message cannot start a forged log line.
                record.msg = f"{record.msg} (%s)"
                args = record.args if isinstance(record.args, tuple) else (record.args,)
                record.args = (*args, reason.encode("unicode_escape").decode("ascii"))
        return True
