"""The OpenAPI 3.1 document of /v1, generated from the views by drf-spectacular.

Every module of this package is imported before the document is generated
(``gateway.api.schema.document``), so a module here that declares an extension
(``OpenApiViewExtension``, ``OpenApiAuthenticationExtension``) applies without being named
anywhere else. ``components`` holds the shared pieces: the error bodies and their responses.
"""
