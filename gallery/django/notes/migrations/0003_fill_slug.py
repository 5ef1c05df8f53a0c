import re

from django.db import migrations


def fill(apps, schema_editor):
    for note in apps.get_model("notes", "Note").objects.all():
        note.slug = re.sub(r"[^a-z0-9]+", "-", note.title.lower()).strip("-")
        note.save(update_fields=["slug"])


def empty(apps, schema_editor):
    apps.get_model("notes", "Note").objects.update(slug="")


class Migration(migrations.Migration):
    dependencies = [("notes", "0002_note_slug")]
    operations = [migrations.RunPython(fill, empty)]
