from django.db import migrations, models

SEED = [("First note", "hello"), ("Second Note", "world"), ("A third, longer note", "!")]


def seed(apps, schema_editor):
    Note = apps.get_model("notes", "Note")
    for title, body in SEED:
        Note.objects.create(title=title, body=body)


def unseed(apps, schema_editor):
    apps.get_model("notes", "Note").objects.filter(title__in=[t for t, _ in SEED]).delete()


class Migration(migrations.Migration):
    initial = True
    dependencies: list[tuple[str, str]] = []
    operations = [
        migrations.CreateModel(
            name="Note",
            fields=[
                (
                    "id",
                    models.AutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("title", models.CharField(max_length=200)),
                ("body", models.TextField(default="")),
            ],
            options={"db_table": "notes"},
        ),
        migrations.RunPython(seed, unseed),
    ]
