from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Model registry"

    def ready(self) -> None:
        from catalog import signals  # noqa: F401
