"""The one domain error type. Every app raises it; one DRF exception handler
(:func:`gateway.errors.exception_handler`) renders it in the calling surface's shape."""

from __future__ import annotations


class ApiError(Exception):
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
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param
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
