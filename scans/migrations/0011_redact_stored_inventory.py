"""Secrets in what daemons reported before issue 12 — command lines, label values, image
history RUN lines — were stored as they came (only environment values were redacted).
Images are never inspected again once stored (their ids are content addresses), so they
would keep them for as long as they run: redact every stored row now, with the same
functions new scans use (scans.redact, deliberately the live code: the stored data must
look as if it had been collected today)."""

from django.db import migrations

BATCH = 500


def forwards(apps, schema_editor):
    from scans import redact

    for model, clean in (
        (apps.get_model("findings", "Image"), redact.redact_image),
        (apps.get_model("findings", "Container"), redact.redact_container),
    ):
        changed = []
        for row in model.objects.all().iterator(chunk_size=BATCH):
            inspect = clean(_copy(row.inspect)) if isinstance(row.inspect, dict) else row.inspect
            fields = []
            if inspect != row.inspect:
                row.inspect = inspect
                fields.append("inspect")
            history = getattr(row, "history", None)
            if isinstance(history, list):
                cleaned = redact.redact_history(_copy(history))
                if cleaned != history:
                    row.history = cleaned
                    fields.append("history")
            if fields:
                changed.append(row)
            if len(changed) >= BATCH:
                model.objects.bulk_update(
                    changed, ["inspect", *(["history"] if hasattr(row, "history") else [])]
                )
                changed = []
        if changed:
            model.objects.bulk_update(
                changed, ["inspect", *(["history"] if hasattr(changed[0], "history") else [])]
            )


def _copy(value):
    import copy

    return copy.deepcopy(value)


class Migration(migrations.Migration):
    # Not one transaction: at 50,000 containers the rewrite takes minutes, and a single
    # transaction would hold every row it touched against the scans' writes until the end
    # (bench/bench_migrations.py: 102 s on scans_container). Each batch commits on its own;
    # redacting is idempotent, so an interrupted run is finished by running it again.
    atomic = False

    dependencies = [
        ("scans", "0010_target_refused_error"),
        ("findings", "0003_image_layers_key"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop, elidable=True)]
