from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"

    def ready(self) -> None:
        from billing import signals  # noqa: F401
        from billing.ledger import ledger

        ledger()  # the backend is chosen once, at start-up
