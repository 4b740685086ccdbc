"""Every user gets a credit account when created."""

from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from billing.models import CreditAccount


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def _user_created(sender: object, instance: object, created: bool, **_: object) -> None:
    if created:
        CreditAccount.objects.get_or_create(user=instance)
