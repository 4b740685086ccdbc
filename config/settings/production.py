"""Production: secrets have no default, so a missing one stops start-up. Served behind a
TLS-terminating proxy that sets ``X-Forwarded-Proto``: plain HTTP is redirected to HTTPS,
and browsers are told (HSTS) to use HTTPS only."""

from django.core.exceptions import ImproperlyConfigured

from config.settings.base import *  # noqa: F403
from config.settings.base import env

DEBUG = False
SECRET_KEY = env("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# Health checks come from the load balancer over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz/?$", r"^readyz/?$"]
# One year; 0 turns HSTS off. Preload is a commitment to browsers' lists: opt in.
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)

# No silent SQLite fallback: the database is named explicitly (ImproperlyConfigured if not).
if not env("DATABASE_URL"):
    raise ImproperlyConfigured("Set the DATABASE_URL environment variable")
# Payments are on once a Stripe key is set (or PAYMENTS_ENABLED says so); then both Stripe
# secrets are required, so a half-configured webhook can never accept unsigned events.
PAYMENTS_ENABLED = env.bool("PAYMENTS_ENABLED", default=bool(env("STRIPE_SECRET_KEY", default="")))
if PAYMENTS_ENABLED:
    STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY")
    STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET")
    if not (STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET):  # set, but empty, is not set
        raise ImproperlyConfigured("Set both STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET")
