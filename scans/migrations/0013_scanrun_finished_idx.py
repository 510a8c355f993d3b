from django.db import migrations, models

from posture.lib.migrations import AddIndexConcurrently


class Migration(migrations.Migration):
    # scans_scanrun keeps 30 days of scans (~200,000 rows at 1,000 hosts): built without
    # stopping the workers' writes (posture.lib.migrations).
    atomic = False

    dependencies = [
        ("scans", "0012_host_access"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="scanrun",
            index=models.Index(fields=["finished_at"], name="scanrun_finished_idx"),
        ),
    ]
