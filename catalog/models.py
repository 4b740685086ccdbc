"""The model registry: providers, public models (the whitelist), aliases and routes.

A model has one ``price_<unit>`` column per unit of ``catalog.units.PRICE_UNITS``: ``Decimal``
USD per 1M tokens for token units, which is exactly credits per token (1,000,000 credits =
1 USD), and USD per unit otherwise (request, image, second), converted to credits per unit
by :func:`catalog.selectors.model_resolve`. A null price falls back as its unit says (the
fallback price setting, the prompt price, or zero); zero means free.
"""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models

from catalog.units import PRICE_UNITS
from catalog.validators import api_key_env_validate

# The modalities a model takes or produces, in the order the admin and the models page list
# them; ``/v1/models?output_modalities=`` accepts the output ones.
MODALITIES: tuple[str, ...] = ("text", "image", "file", "audio", "video", "embeddings")

PRICE = {
    "max_digits": 18,
    "decimal_places": 9,
    "null": True,
    "blank": True,
    "validators": [MinValueValidator(0)],
}


class Provider(models.Model):
    class Dialect(models.TextChoices):
        OPENAI = "openai", "OpenAI-compatible"
        ANTHROPIC = "anthropic", "Anthropic"
        REPLICATE = "replicate", "Replicate predictions"
        SANDBOX = "sandbox", "Sandbox (local, free, no network)"

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100, blank=True)
    dialect = models.CharField(max_length=16, choices=Dialect.choices)
    base_url = models.URLField(
        blank=True,
        help_text="As the provider's own SDK takes it: https://api.openai.com/v1 for OpenAI-"
        "compatible upstreams, https://api.anthropic.com for Anthropic. Only superusers may "
        "change it.",
    )
    api_key_env = models.CharField(
        max_length=100,
        blank=True,
        validators=[api_key_env_validate],
        help_text="Name of the environment variable holding the API key (never the key itself"
        "; never one of the gateway's own settings). Only superusers may change it.",
    )
    is_enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Model(models.Model):
    public_id = models.CharField(max_length=200, unique=True, help_text="e.g. openai/gpt-5.5")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    input_modalities = models.JSONField(default=list, blank=True)
    output_modalities = models.JSONField(default=list, blank=True)
    context_length = models.PositiveIntegerField(default=128_000)
    max_output_tokens = models.PositiveIntegerField(default=16_384)
    supported_parameters = models.JSONField(default=list, blank=True)
    # price_<unit> columns: added below, one per unit of PRICE_UNITS
    is_enabled = models.BooleanField(
        default=True, help_text="The whitelist: only enabled models are listed and served."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["public_id"]

    def __str__(self) -> str:
        return self.public_id


for _unit in PRICE_UNITS:
    Model.add_to_class(_unit.column, models.DecimalField(_unit.label, **PRICE))
del _unit


class ModelAlias(models.Model):
    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="aliases")
    alias = models.CharField(max_length=200, unique=True)

    class Meta:
        verbose_name_plural = "model aliases"

    def __str__(self) -> str:
        return self.alias


class Route(models.Model):
    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="routes")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="routes")
    upstream_model = models.CharField(max_length=200)
    priority = models.IntegerField(default=0, help_text="Higher is tried first.")
    weight = models.PositiveIntegerField(default=1, help_text="Share within a priority group.")
    is_enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["-priority", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["model", "provider", "upstream_model"],
                name="route_unique_model_provider_upstream",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model} -> {self.provider}:{self.upstream_model}"


class CatalogRevision(models.Model):
    """One row whose number goes up on every registry change, so every process can tell
    cheaply whether its cached catalog is still current."""

    revision = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"catalog revision {self.revision}"


class UserProvider(models.Model):
    """A user's own upstream ("bring your own provider"): requests of that user's keys may
    be routed to it (``provider.only: ["my-…"]`` or a key's default). Its key is stored only
    encrypted (``catalog.provider_keys``, Fernet with a key from the environment); the
    console shows its last four characters and never the key. Routes to it are synthesized
    per request with route id ``-pk``, so breakers never collide with catalog routes."""

    class Dialect(models.TextChoices):
        OPENAI = "openai", "OpenAI-compatible"
        ANTHROPIC = "anthropic", "Anthropic"

    # by the setting's name: the catalog imports no other app
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="own_providers"
    )
    name = models.CharField(max_length=60)
    slug = models.SlugField(max_length=64, help_text="Public name: my-<name>, unique per user.")
    dialect = models.CharField(max_length=16, choices=Dialect.choices)
    base_url = models.URLField(max_length=500)
    key_encrypted = models.TextField(help_text="Fernet token of the upstream key.")
    key_last4 = models.CharField(max_length=4, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.UniqueConstraint(fields=["user", "slug"], name="userprovider_unique_user_slug")
        ]

    def __str__(self) -> str:
        return f"{self.slug} ({self.user_id})"
