"""The job list's best-first and worst-first orders served by an index on SQLite too: the orders lead
with whether a job has no best value (HpoJob's NO_BEST_VALUE), so that those jobs come last both ways
without NULLS LAST, which SQLite's indexes cannot take. These indexes replace PostgreSQL's of 0016."""

import django.db.models.lookups
from django.conf import settings
from django.db import migrations, models

OLD = ("hpojob_list_best_down", "hpojob_list_best_up")  # 0016's, PostgreSQL's only


def drop_old(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in OLD:
            schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


def restore_old(apps, schema_editor):
    from importlib import import_module

    import_module("hpo_jobs.migrations.0016_job_list_best_indexes").add_indexes(apps, schema_editor)


class Migration(migrations.Migration):

    dependencies = [
        ('hpo_jobs', '0019_training_job_hyperparameter_sort'),
        ('projects', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(drop_old, restore_old),
        migrations.AddIndex(
            model_name='hpojob',
            index=models.Index(models.F('project'), django.db.models.lookups.IsNull(models.F('best_objective_value'), True), models.F('best_objective_value'), models.OrderBy(models.F('created_at'), descending=True), models.OrderBy(models.F('id'), descending=True), name='hpojob_list_best_asc'),
        ),
        migrations.AddIndex(
            model_name='hpojob',
            index=models.Index(models.F('project'), django.db.models.lookups.IsNull(models.F('best_objective_value'), True), models.OrderBy(models.F('best_objective_value'), descending=True), models.OrderBy(models.F('created_at'), descending=True), models.OrderBy(models.F('id'), descending=True), name='hpojob_list_best_desc'),
        ),
    ]
