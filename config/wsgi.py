import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
django.setup(set_prefix=False)

from config.handler import GatewayWSGIHandler  # noqa: E402

application = GatewayWSGIHandler()
