from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway"

    def ready(self) -> None:
        import gateway.idempotency.tasks  # noqa: F401  (registers the purge with Celery)
        import gateway.ops.readiness  # noqa: F401  (notes the process's start)
