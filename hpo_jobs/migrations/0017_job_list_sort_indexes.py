"""The job list's other orders served by an index, on both databases (see HpoJob.Meta.indexes), with
the duration's order kept in a column of its own (duration_key). The new indexes are made before
(project, status) goes, which the first of them begins with.

SQLite adds a stored generated column by making the table anew, which drops its triggers: the job
counts' triggers (migration 0015) are made again right after, in the same transaction, so that no
write goes uncounted (and again when the migration is undone).
"""

import importlib

import django.db.models.functions.comparison
import django.db.models.functions.text
import hpo_jobs.models
from django.conf import settings
from django.db import migrations, models

job_counts = importlib.import_module("hpo_jobs.migrations.0015_project_job_counts")


def restore_sqlite_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for statement in job_counts.SQLITE_UNDO + job_counts.SQLITE:
            schema_editor.execute(statement)


class Migration(migrations.Migration):

    dependencies = [
        ('hpo_jobs', '0016_job_list_best_indexes'),
        ('projects', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # Undone, the column goes the same way: the triggers are made again after it (and before, here).
        migrations.RunPython(migrations.RunPython.noop, restore_sqlite_triggers),
        migrations.AddField(
            model_name='hpojob',
            name='duration_key',
            field=models.GeneratedField(db_persist=True, expression=django.db.models.functions.comparison.Coalesce(hpo_jobs.models.SecondsBetween(models.F('ended_at'), django.db.models.functions.comparison.Coalesce(models.F('started_at'), models.F('created_at'))), models.Value(1.7976931348623157e+308)), output_field=models.FloatField()),
        ),
        migrations.RunPython(restore_sqlite_triggers, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name='hpojob',
            index=models.Index(fields=['project', 'status', '-created_at', '-id'], name='hpojob_list_status_up'),
        ),
        migrations.AddIndex(
            model_name='hpojob',
            index=models.Index(fields=['project', '-status', '-created_at', '-id'], name='hpojob_list_status_down'),
        ),
        migrations.AddIndex(
            model_name='hpojob',
            index=models.Index(fields=['project', 'finished_count', '-created_at', '-id'], name='hpojob_list_progress_up'),
        ),
        migrations.AddIndex(
            model_name='hpojob',
            index=models.Index(fields=['project', '-finished_count', '-created_at', '-id'], name='hpojob_list_progress_down'),
        ),
        migrations.AddIndex(
            model_name='hpojob',
            index=models.Index(fields=['project', 'strategy', '-created_at', '-id'], name='hpojob_list_strategy_up'),
        ),
        migrations.AddIndex(
            model_name='hpojob',
            index=models.Index(fields=['project', '-strategy', '-created_at', '-id'], name='hpojob_list_strategy_down'),
        ),
        migrations.AddIndex(
            model_name='hpojob',
            index=models.Index(fields=['project', 'backend', '-created_at', '-id'], name='hpojob_list_engine_up'),
        ),
        migrations.AddIndex(
            model_name='hpojob',
            index=models.Index(fields=['project', '-backend', '-created_at', '-id'], name='hpojob_list_engine_down'),
        ),
        migrations.AddIndex(
            model_name='hpojob',
            index=models.Index(models.F('project'), django.db.models.functions.text.Lower('name'), models.F('id'), name='hpojob_list_name'),
        ),
        migrations.AddIndex(
            model_name='hpojob',
            index=models.Index(fields=['project', 'duration_key', '-created_at', '-id'], name='hpojob_list_duration_up'),
        ),
        migrations.AddIndex(
            model_name='hpojob',
            index=models.Index(fields=['project', '-duration_key', '-created_at', '-id'], name='hpojob_list_duration_down'),
        ),
        # (project, status): hpojob_list_status_up begins with it.
        migrations.RemoveIndex(
            model_name='hpojob',
            name='hpo_jobs_hp_project_74e218_idx',
        ),
    ]
