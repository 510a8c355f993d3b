# A subscription to one host ("Alert me" on a host's page), and scopes named for a person
# (issue 17).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0005_notification_withheld"),
        ("hosts", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="subscription",
            name="host",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="hosts.host",
            ),
        ),
        migrations.AlterField(
            model_name="subscription",
            name="scope",
            field=models.CharField(
                choices=[
                    ("all", "All hosts"),
                    ("host", "One host"),
                    ("label", "A team's hosts"),
                    ("owner", "Hosts I own (by owner email)"),
                    ("filter", "Hosts by labels and name"),
                ],
                default="all",
                max_length=16,
            ),
        ),
    ]
