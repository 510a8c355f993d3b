"""Accounts that existed before roles could do everything but manage users: they keep that
as security (all hosts, policy, exports), and staff accounts become admins. Narrow them
afterwards on /access/users/; the change is written to the audit trail from then on."""

from django.db import migrations


def forwards(apps, schema_editor):
    User = apps.get_model("auth", "User")
    AccessProfile = apps.get_model("access", "AccessProfile")
    for user in User.objects.filter(access_profile__isnull=True):
        role = "admin" if (user.is_superuser or user.is_staff) else "security"
        AccessProfile.objects.create(user=user, role=role)


class Migration(migrations.Migration):
    dependencies = [("access", "0001_initial")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
