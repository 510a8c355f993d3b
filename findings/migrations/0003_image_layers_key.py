from django.db import migrations, models

from rules.facts import layers_key


def fill(apps, schema_editor):
    Image = apps.get_model("findings", "Image")
    batch = []
    for image in Image.objects.only("pk", "inspect").iterator(chunk_size=1000):
        key = layers_key(image.inspect if isinstance(image.inspect, dict) else {})
        if key:
            image.layers_key = key
            batch.append(image)
        if len(batch) >= 1000:
            Image.objects.bulk_update(batch, ["layers_key"])
            batch = []
    Image.objects.bulk_update(batch, ["layers_key"])


class Migration(migrations.Migration):
    dependencies = [("findings", "0002_rulecontribution")]

    operations = [
        migrations.AddField(
            model_name="image",
            name="layers_key",
            field=models.CharField(blank=True, db_index=True, max_length=64),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
