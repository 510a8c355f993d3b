from django.db import migrations, models


def fill(apps, schema_editor):
    """The tallies of the pictures already stored (what scans.tallies.rebuild_rule_tallies
    does, on the historical models)."""
    from rules.catalogue import fleet_totals

    HostPosture = apps.get_model("scans", "HostPosture")
    RuleTally = apps.get_model("scans", "RuleTally")
    summaries = HostPosture.objects.values_list("rule_summary", flat=True)
    totals = fleet_totals(summaries.iterator(chunk_size=200))
    columns = ("passing", "failing", "hosts_assessed", "hosts_failing", "hosts_not_applicable")
    RuleTally.objects.bulk_create(
        RuleTally(rule_id=rule_id, **dict(zip(columns, values, strict=True)))
        for rule_id, values in sorted(totals.items())
    )


class Migration(migrations.Migration):
    dependencies = [
        ("scans", "0007_page_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="RuleTally",
            fields=[
                ("rule_id", models.CharField(max_length=64, primary_key=True, serialize=False)),
                ("passing", models.IntegerField(default=0)),
                ("failing", models.IntegerField(default=0)),
                ("hosts_assessed", models.IntegerField(default=0)),
                ("hosts_failing", models.IntegerField(default=0)),
                ("hosts_not_applicable", models.IntegerField(default=0)),
            ],
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
    ]
