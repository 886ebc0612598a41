"""The job list's best-first and worst-first orders served by an index on PostgreSQL: its pages read
20 index entries, and a page by number skips ids on the index alone, however many jobs the project
has. Written as SQL and made on PostgreSQL only: SQLite's indexes take no NULLS LAST, and the orders
put the jobs without a value last both ways (views.JOB_SORTS)."""

from django.db import migrations

INDEXES = {
    "hpojob_list_best_down": "best_objective_value DESC NULLS LAST, created_at DESC, id DESC",  # "-best"
    "hpojob_list_best_up": "best_objective_value ASC NULLS LAST, created_at DESC, id DESC",  # "best"
}


def add_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        table = schema_editor.quote_name(apps.get_model("hpo_jobs", "HpoJob")._meta.db_table)
        for name, keys in INDEXES.items():
            schema_editor.execute(f"CREATE INDEX {schema_editor.quote_name(name)} ON {table} (project_id, {keys})")


def remove_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in INDEXES:
            schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


class Migration(migrations.Migration):

    dependencies = [
        ("hpo_jobs", "0015_project_job_counts"),
    ]

    operations = [
        migrations.RunPython(add_indexes, remove_indexes),
    ]
