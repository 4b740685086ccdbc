import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
django.setup(set_prefix=False)

from django.urls import get_resolver  # noqa: E402

from config.handler import GatewayWSGIHandler  # noqa: E402

application = GatewayWSGIHandler()

# Import the URL conf, and with it every view, DRF and the gateway, as the worker starts
# rather than in its first request (~0.25 s of that request's latency otherwise).
get_resolver().url_patterns  # noqa: B018
