import datetime as dt

from django.db import migrations, models
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate

BATCH = 1000


def rollups_rebuild(apps, schema_editor):
    # The buckets gain the request's surface, so the request log filtered to a surface finds
    # its successful rows through them, as it does a model's. The rows written so far have no
    # surface: rebuilt from the request log as 0007 built them, by (user, key, model,
    # surface, UTC day of created_at), the sums unchanged.
    Generation = apps.get_model("gateway", "Generation")
    UsageDaily = apps.get_model("gateway", "UsageDaily")
    UsageDaily.objects.all().delete()
    groups = (
        Generation.objects.filter(ledger_entry__isnull=False)
        .annotate(day=TruncDate("created_at", tzinfo=dt.UTC))
        .order_by()
        .values("user_id", "api_key_id", "model", "surface", "day")
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
        bucket = (g["user_id"], g["api_key_id"] or 0, g["model"], g["surface"], g["day"])
        sums = rows.setdefault(bucket, [0, 0, 0, 0])
        for i, value in enumerate((g["n"], g["prompt"], g["completion"], g["credits"])):
            sums[i] += int(value or 0)
    UsageDaily.objects.bulk_create(
        (
            UsageDaily(
                user_id=user_id,
                key_id=key_id,
                model=model,
                surface=surface,
                day=day,
                requests=n,
                prompt_tokens=prompt,
                completion_tokens=completion,
                cost=credits,
            )
            for (user_id, key_id, model, surface, day), (n, prompt, completion, credits) in (
                rows.items()
            )
        ),
        batch_size=BATCH,
    )


class Migration(migrations.Migration):
    # The request log filtered to a surface walked the whole (user, -created_at, -id) range
    # when few rows or none matched (a sequential scan of the log on 1M rows). Its successful
    # rows are now bounded by the daily rollups, which gain the surface in their bucket (the
    # settle's one upsert, no new write); its other rows are a range of a partial index on
    # status <> 'success', as for a model, so a billed request writes no entry in it.
    dependencies = [
        ("gateway", "0009_media_tasks"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="usagedaily",
            name="usagedaily_unique_bucket",
        ),
        migrations.AddField(
            model_name="usagedaily",
            name="surface",
            field=models.CharField(
                default="", help_text="API surface, as Generation.surface.", max_length=32
            ),
        ),
        migrations.AddConstraint(
            model_name="usagedaily",
            constraint=models.UniqueConstraint(
                fields=("user", "key_id", "model", "surface", "day"),
                name="usagedaily_unique_bucket",
            ),
        ),
        migrations.AddIndex(
            model_name="generation",
            index=models.Index(
                condition=models.Q(("status", "success"), _negated=True),
                fields=["user", "surface", "-created_at", "-id"],
                name="generation_failed_surface_idx",
            ),
        ),
        # last: the schema's ALTERs cannot follow row changes in one PostgreSQL transaction
        migrations.RunPython(rollups_rebuild, migrations.RunPython.noop),
    ]
