# The channels' sealed URL and signing key renamed *_enc (issue 13): hosts.credentials finds
# sealed fields by that suffix, so `manage.py rotate_keys` now re-seals them and --check lists
# them. A rename only: the stored ciphertext is untouched.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0007_channels"),
    ]

    operations = [
        migrations.RenameField(
            model_name="subscription",
            old_name="signing_secret",
            new_name="signing_secret_enc",
        ),
        migrations.RenameField(
            model_name="subscription",
            old_name="target",
            new_name="target_enc",
        ),
    ]
