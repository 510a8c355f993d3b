# A message whose host left the recipient's teams before it was sent (issue 12).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0004_regression_kind_vulnerability"),
    ]

    operations = [
        migrations.AlterField(
            model_name="notification",
            name="status",
            field=models.CharField(
                choices=[
                    ("pending", "Pending"),
                    ("held", "Held for a digest"),
                    ("sending", "Sending"),
                    ("sent", "Sent"),
                    ("failed", "Failed"),
                    ("folded", "Sent in a digest"),
                    ("withheld", "Withheld: host outside your teams"),
                ],
                default="pending",
                max_length=16,
            ),
        ),
    ]
