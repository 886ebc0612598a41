"""The job list's search: an index of (project, status, name) that counts a search's matches without
reading the rows, and on PostgreSQL a trigram index on UPPER(name) (the expression Django's
``icontains`` compares there) that finds the matches of a search of three characters or more. The
trigram index and its extension exist on PostgreSQL only; no model declares them."""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models

TRIGRAM_INDEX = "hpojob_name_trgm"


# Written as SQL: GinIndex(OpClass(Upper("name"), name="gin_trgm_ops")) needs django.contrib.postgres
# installed to place the operator class outside the expression's parentheses.
def add_trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        table = schema_editor.quote_name(apps.get_model("hpo_jobs", "HpoJob")._meta.db_table)
        schema_editor.execute(
            f'CREATE INDEX {schema_editor.quote_name(TRIGRAM_INDEX)} ON {table} USING gin ((UPPER("name")) gin_trgm_ops)')


def remove_trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(TRIGRAM_INDEX)}")


class Migration(migrations.Migration):

    dependencies = [
        ("hpo_jobs", "0012_training_job_sort_keys"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="hpojob",
            index=models.Index(fields=["project", "status", "name"], name="hpojob_search"),
        ),
        TrigramExtension(),  # does nothing on other databases
        migrations.RunPython(add_trigram_index, remove_trigram_index),
    ]
