"""drf-spectacular's settings: the OpenAPI document's title, description, tags and hooks (the
operation schemas are in gateway/api/schema/, served by gateway/docs). Fixed text, none of
it from the environment, so it lives apart from the settings table in base.py."""

SPECTACULAR_SETTINGS = {
    "OAS_VERSION": "3.1.0",
    "TITLE": "LLM API gateway",
    "VERSION": "1.0.0",
    "DESCRIPTION": (
        "An OpenAI- and Anthropic-compatible API for chat, completions, embeddings, responses "
        "and media, paid from prepaid credits (1,000,000 credits = 1 USD). Authenticate with "
        "`Authorization: Bearer sk-…` or `x-api-key: sk-…` (see /auth.md). Errors are "
        '`{"error": {"message", "type", "code", "param"}}` (`Error`); under /v1/messages '
        "Anthropic's shape (`AnthropicError`)."
    ),
    "SERVERS": [{"url": "/", "description": "this gateway"}],
    "TAGS": [
        {"name": "chat", "description": "Chat, completions, embeddings, responses, messages"},
        {"name": "media", "description": "Images, videos, music: tasks and their polling"},
        {"name": "files", "description": "Output files of media tasks"},
        {"name": "models", "description": "The models and their prices"},
        {"name": "generations", "description": "One request's record"},
        {"name": "credits", "description": "Balance, packs and estimates"},
        {"name": "keys", "description": "The calling key and, with a management key, /v1/keys"},
    ],
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/v1",
    "SCHEMA_PATH_PREFIX_TRIM": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "PREPROCESSING_HOOKS": ["gateway.api.schema.document.keep_v1"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "gateway.api.schema.document.mark_public",
    ],
    "DISABLE_ERRORS_AND_WARNINGS": True,
}
