import datetime as dt

from django.db import migrations
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate

BATCH = 1000


def rollups_rebuild(apps, schema_editor):
    # The rollups are the settled Generations' sums per (user, key, model, UTC day): built
    # once from the request log, so the history before this release is in the charts too.
    # Rebuilt rather than added to, so a database that ran 0005 with rollups already written
    # ends with the same sums, none counted twice.
    Generation = apps.get_model("gateway", "Generation")
    UsageDaily = apps.get_model("gateway", "UsageDaily")
    UsageDaily.objects.all().delete()
    groups = (
        Generation.objects.filter(ledger_entry__isnull=False)
        .annotate(day=TruncDate("created_at", tzinfo=dt.UTC))
        .order_by()
        .values("user_id", "api_key_id", "model", "day")
        .annotate(
            n=Count("id"),
            prompt=Sum("prompt_tokens"),
            completion=Sum("completion_tokens"),
            credits=Sum("cost"),
        )
    )
    rows: dict[tuple, list[int]] = {}
    for g in groups.iterator():
        # requests of a deleted key (api_key set NULL) join the no-key bucket, key 0
        bucket = (g["user_id"], g["api_key_id"] or 0, g["model"], g["day"])
        sums = rows.setdefault(bucket, [0, 0, 0, 0])
        for i, value in enumerate((g["n"], g["prompt"], g["completion"], g["credits"])):
            sums[i] += int(value or 0)
    UsageDaily.objects.bulk_create(
        (
            UsageDaily(
                user_id=user_id,
                key_id=key_id,
                model=model,
                day=day,
                requests=n,
                prompt_tokens=prompt,
                completion_tokens=completion,
                cost=credits,
            )
            for (user_id, key_id, model, day), (n, prompt, completion, credits) in rows.items()
        ),
        batch_size=BATCH,
    )


class Migration(migrations.Migration):

    dependencies = [
        ('gateway', '0006_generation_log_index'),
    ]

    operations = [
        migrations.RunPython(rollups_rebuild, migrations.RunPython.noop),
    ]
