"""The machine-readable entry points around the OpenAPI document (gateway.api.schema):
/openapi.json, /api-docs/index.md, /llms.txt, /auth.md, /.well-known/api-catalog, and the
console's API reference page, all rendered from the one generated document."""
