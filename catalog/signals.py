"""Any change to the registry drops this process's cached catalog at once."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from catalog.models import Model, ModelAlias, Provider, Route
from catalog.selectors import catalog_invalidate


@receiver(post_save, sender=Provider)
@receiver(post_save, sender=Model)
@receiver(post_save, sender=ModelAlias)
@receiver(post_save, sender=Route)
@receiver(post_delete, sender=Provider)
@receiver(post_delete, sender=Model)
@receiver(post_delete, sender=ModelAlias)
@receiver(post_delete, sender=Route)
def _registry_changed(**_: object) -> None:
    catalog_invalidate()
