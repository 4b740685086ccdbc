"""Request validation for every /v1 surface: small shape checkers (``shapes``), the
canonical chat request (``chat``) and the gateway's routing fields (``routing_fields``)."""

from gateway.surfaces.validation.chat import chat_validate, content_check, max_tokens_of
from gateway.surfaces.validation.routing_fields import price_limits, routing_fields_validate
from gateway.surfaces.validation.shapes import (
    expect_bool,
    expect_choice,
    expect_int,
    expect_list,
    expect_number,
    expect_object,
    expect_str,
    expect_strings,
    invalid,
    is_int,
    is_number,
    json_checked,
)

__all__ = [
    "chat_validate",
    "content_check",
    "expect_bool",
    "expect_choice",
    "expect_int",
    "expect_list",
    "expect_number",
    "expect_object",
    "expect_str",
    "expect_strings",
    "invalid",
    "is_int",
    "is_number",
    "json_checked",
    "max_tokens_of",
    "price_limits",
    "routing_fields_validate",
]
