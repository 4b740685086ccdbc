from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway"

    def ready(self) -> None:
        import gateway.idempotency.tasks  # noqa: F401  (registers the purge with Celery)
