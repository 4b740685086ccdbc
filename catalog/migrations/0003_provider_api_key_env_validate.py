from django.db import migrations, models

import catalog.validators


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0002_catalog_revision"),
    ]

    operations = [
        migrations.AlterField(
            model_name="provider",
            name="api_key_env",
            field=models.CharField(
                blank=True,
                help_text="Name of the environment variable holding the API key (never the key "
                "itself; never one of the gateway's own settings). Only superusers may change it.",
                max_length=100,
                validators=[catalog.validators.api_key_env_validate],
            ),
        ),
        migrations.AlterField(
            model_name="provider",
            name="base_url",
            field=models.URLField(
                blank=True,
                help_text="As the provider's own SDK takes it: https://api.openai.com/v1 for "
                "OpenAI-compatible upstreams, https://api.anthropic.com for Anthropic. Only "
                "superusers may change it.",
            ),
        ),
    ]
