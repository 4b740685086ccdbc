from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway"

    def ready(self) -> None:
        # registers the purge with Celery; notes the process's start (/readyz)
        import gateway.idempotency.tasks
        import gateway.ops.readiness  # noqa: F401
