"""Each project's job counts by status (ProjectJobCount), kept by triggers on the jobs' table, on
PostgreSQL and on SQLite alike: a job's insert counts it, its delete uncounts it, and a change of
its status (or project) moves it from one count to the other. A delete only decrements a count that
exists, so a project's cascade may remove its counts before or after its jobs. The counts of the
jobs already stored are computed once here."""

import django.db.models.deletion
from django.db import migrations, models

JOBS = "hpo_jobs_hpojob"
COUNTS = "hpo_jobs_projectjobcount"
UNCOUNT_OLD = f"UPDATE {COUNTS} SET n = n - 1 WHERE project_id = OLD.project_id AND status = OLD.status;"
COUNT_NEW = (f"INSERT INTO {COUNTS} (project_id, status, n) VALUES (NEW.project_id, NEW.status, 1) "
             f"ON CONFLICT (project_id, status) DO UPDATE SET n = {COUNTS}.n + 1;")
CHANGED = "OLD.status IS DISTINCT FROM NEW.status OR OLD.project_id IS DISTINCT FROM NEW.project_id"

POSTGRESQL = [
    f"""CREATE FUNCTION hpo_jobs_count_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN {UNCOUNT_OLD} END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN {COUNT_NEW} END IF;
        RETURN NULL;
    END $$""",
    f"CREATE TRIGGER hpo_jobs_count_insert_delete AFTER INSERT OR DELETE ON {JOBS} "
    f"FOR EACH ROW EXECUTE FUNCTION hpo_jobs_count_jobs()",
    f"CREATE TRIGGER hpo_jobs_count_update AFTER UPDATE OF status, project_id ON {JOBS} "
    f"FOR EACH ROW WHEN ({CHANGED}) EXECUTE FUNCTION hpo_jobs_count_jobs()",
]
POSTGRESQL_UNDO = [
    f"DROP TRIGGER IF EXISTS hpo_jobs_count_update ON {JOBS}",
    f"DROP TRIGGER IF EXISTS hpo_jobs_count_insert_delete ON {JOBS}",
    "DROP FUNCTION IF EXISTS hpo_jobs_count_jobs()",
]
SQLITE = [
    f"CREATE TRIGGER hpo_jobs_count_insert AFTER INSERT ON {JOBS} BEGIN {COUNT_NEW} END",
    f"CREATE TRIGGER hpo_jobs_count_delete AFTER DELETE ON {JOBS} BEGIN {UNCOUNT_OLD} END",
    f"CREATE TRIGGER hpo_jobs_count_update AFTER UPDATE OF status, project_id ON {JOBS} "
    f"WHEN {CHANGED.replace('IS DISTINCT FROM', 'IS NOT')} BEGIN {UNCOUNT_OLD} {COUNT_NEW} END",
]
SQLITE_UNDO = [f"DROP TRIGGER IF EXISTS {name}" for name in
               ("hpo_jobs_count_insert", "hpo_jobs_count_delete", "hpo_jobs_count_update")]


def _statements(vendor: str, undo: bool) -> list[str]:
    if vendor == "postgresql":
        return POSTGRESQL_UNDO if undo else POSTGRESQL
    if vendor == "sqlite":
        return SQLITE_UNDO if undo else SQLITE
    raise NotImplementedError(f"job count triggers for {vendor}")


def add_triggers(apps, schema_editor):
    for statement in _statements(schema_editor.connection.vendor, undo=False):
        schema_editor.execute(statement)
    schema_editor.execute(f"INSERT INTO {COUNTS} (project_id, status, n) "
                          f"SELECT project_id, status, COUNT(*) FROM {JOBS} GROUP BY project_id, status")


def remove_triggers(apps, schema_editor):
    for statement in _statements(schema_editor.connection.vendor, undo=True):
        schema_editor.execute(statement)


class Migration(migrations.Migration):

    dependencies = [
        ("hpo_jobs", "0014_job_list_created_index"),
        ("projects", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="ProjectJobCount",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("status", models.CharField(max_length=20)),
                ("n", models.IntegerField(default=0)),
                ("project", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="job_counts",
                                              to="projects.project")),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("project", "status"), name="projectjobcount_unique")],
            },
        ),
        migrations.RunPython(add_triggers, remove_triggers),
    ]
