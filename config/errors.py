"""The domain error types. Billing, accounts and tasks raise :class:`DomainError` (a code,
a message, the parameter at fault) without knowing about HTTP; the API's one mapping
(``gateway.api.errors.DOMAIN_STATUS``) gives each code its status. :class:`ApiError` is a
DomainError that already carries its status. One DRF exception handler
(:func:`gateway.api.errors.exception_handler`) renders both in the calling surface's shape."""

from __future__ import annotations


class DomainError(Exception):
    """A failure the caller can act on: stable machine ``code``, human ``message``, and
    the request parameter at fault (``param``), if any."""

    def __init__(self, code: str, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param


class ApiError(DomainError):
    """A client-visible failure: HTTP status, stable machine code, human message, and the
    request parameter at fault (if any)."""

    error_type = "invalid_request_error"

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        param: str | None = None,
        error_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(code, message, param=param)
        self.status = status
        self.headers = headers or {}
        if error_type:
            self.error_type = error_type
        else:
            self.error_type = _TYPE_BY_STATUS.get(status, "api_error")


_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_credits",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    502: "provider_error",
    503: "service_unavailable",
}
