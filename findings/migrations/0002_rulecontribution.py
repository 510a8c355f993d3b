"""RuleTally, per-rule totals every scan updated, gives way to RuleContribution, each host's
own share of them (issue 10). The shares are filled from the pictures already stored, so an
upgraded install shows the same numbers; going back fills the totals again the same way."""

import django.db.models.deletion
from django.db import migrations, models

COLUMNS = ("passing", "failing", "hosts_assessed", "hosts_failing", "hosts_not_applicable")


def fill_contributions(apps, schema_editor):
    import secrets

    from rules.catalogue import HOSTS, contribution

    HostPosture = apps.get_model("findings", "HostPosture")
    RuleContribution = apps.get_model("findings", "RuleContribution")
    rows = []
    for host_id, summary in HostPosture.objects.values_list("pk", "rule_summary").iterator(
        chunk_size=200
    ):
        for rule_id, values in sorted(contribution(summary).items()):
            rows.append(
                RuleContribution(
                    posture_id=host_id,
                    rule_id=rule_id,
                    # As findings.tallies.store_contribution draws it, for the row "*".
                    revision=secrets.randbelow(2**31 - 2) + 1 if rule_id == HOSTS else 0,
                    **dict(zip(COLUMNS, values, strict=True)),
                )
            )
        if len(rows) >= 5000:
            RuleContribution.objects.bulk_create(rows)
            rows = []
    RuleContribution.objects.bulk_create(rows)


def fill_tallies(apps, schema_editor):
    from rules.catalogue import fleet_totals

    HostPosture = apps.get_model("findings", "HostPosture")
    RuleTally = apps.get_model("findings", "RuleTally")
    summaries = HostPosture.objects.values_list("rule_summary", flat=True)
    totals = fleet_totals(summaries.iterator(chunk_size=200))
    RuleTally.objects.bulk_create(
        RuleTally(rule_id=rule_id, **dict(zip(COLUMNS, values, strict=True)))
        for rule_id, values in sorted(totals.items())
    )


class Migration(migrations.Migration):
    dependencies = [
        ("findings", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="RuleContribution",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "posture",
                        "rule_id",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                (
                    "posture",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="findings.hostposture",
                    ),
                ),
                ("rule_id", models.CharField(max_length=64)),
                ("passing", models.IntegerField(default=0)),
                ("failing", models.IntegerField(default=0)),
                ("hosts_assessed", models.IntegerField(default=0)),
                ("hosts_failing", models.IntegerField(default=0)),
                ("hosts_not_applicable", models.IntegerField(default=0)),
                ("revision", models.IntegerField(default=0)),
            ],
            options={
                "indexes": [
                    models.Index(
                        condition=models.Q(("rule_id", "*")),
                        fields=["revision"],
                        name="contribution_rev_idx",
                    )
                ],
            },
        ),
        migrations.RunPython(fill_contributions, fill_tallies, elidable=False),
        # Its table is still scans_ruletally (db_table), from before the move to findings.
        migrations.DeleteModel(name="RuleTally"),
    ]
