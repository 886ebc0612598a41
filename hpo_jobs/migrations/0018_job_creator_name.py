"""Each job's creator's username in a column of the job (HpoJob.creator_name), kept by triggers on
PostgreSQL and on SQLite alike, so that an index serves the job list's creator order: a job's insert
and a change of its creator (a user's delete sets it to NULL) read the name from the users' table, a
write of the column itself is put right, and a user's rename renames every job of theirs. The names
of the jobs already stored are filled in once here."""

from django.conf import settings
from django.db import migrations, models

JOBS = "hpo_jobs_hpojob"


def _users(apps) -> tuple[str, str]:
    """The users' table and its username column (a historical model keeps no USERNAME_FIELD)."""
    user = apps.get_model(settings.AUTH_USER_MODEL)
    return user._meta.db_table, user._meta.get_field("username").column


def _statements(apps, vendor: str, undo: bool) -> list[str]:
    users, username = _users(apps)
    name_of = f"(SELECT {username} FROM {users} WHERE id = NEW.created_by_id)"
    if vendor == "postgresql":
        if undo:
            return [f"DROP TRIGGER IF EXISTS hpo_jobs_creator_renamed ON {users}",
                    "DROP FUNCTION IF EXISTS hpo_jobs_creator_renamed()",
                    f"DROP TRIGGER IF EXISTS hpo_jobs_creator_name ON {JOBS}",
                    "DROP FUNCTION IF EXISTS hpo_jobs_creator_name()"]
        return [
            f"""CREATE FUNCTION hpo_jobs_creator_name() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                NEW.creator_name := {name_of};
                RETURN NEW;
            END $$""",
            f"CREATE TRIGGER hpo_jobs_creator_name BEFORE INSERT OR UPDATE OF created_by_id, creator_name ON {JOBS} "
            "FOR EACH ROW EXECUTE FUNCTION hpo_jobs_creator_name()",
            f"""CREATE FUNCTION hpo_jobs_creator_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE {JOBS} SET creator_name = NEW.{username} WHERE created_by_id = NEW.id;
                RETURN NULL;
            END $$""",
            f"CREATE TRIGGER hpo_jobs_creator_renamed AFTER UPDATE OF {username} ON {users} "
            f"FOR EACH ROW WHEN (OLD.{username} IS DISTINCT FROM NEW.{username}) "
            "EXECUTE FUNCTION hpo_jobs_creator_renamed()",
        ]
    if vendor == "sqlite":
        if undo:
            return [f"DROP TRIGGER IF EXISTS {name}" for name in
                    ("hpo_jobs_creator_insert", "hpo_jobs_creator_update", "hpo_jobs_creator_renamed")]
        # SQLite's triggers cannot change NEW: the row is updated after its write, only when its name
        # is not the creator's (so that the trigger's own update does not set it off again).
        set_name = f"WHEN NEW.creator_name IS NOT {name_of} BEGIN UPDATE {JOBS} SET creator_name = {name_of} " \
                   "WHERE id = NEW.id; END"
        return [
            f"CREATE TRIGGER hpo_jobs_creator_insert AFTER INSERT ON {JOBS} {set_name}",
            f"CREATE TRIGGER hpo_jobs_creator_update AFTER UPDATE OF created_by_id, creator_name ON {JOBS} {set_name}",
            f"CREATE TRIGGER hpo_jobs_creator_renamed AFTER UPDATE OF {username} ON {users} "
            f"WHEN OLD.{username} IS NOT NEW.{username} "
            f"BEGIN UPDATE {JOBS} SET creator_name = NEW.{username} WHERE created_by_id = NEW.id; END",
        ]
    raise NotImplementedError(f"creator name triggers for {vendor}")


def add_triggers(apps, schema_editor):
    for statement in _statements(apps, schema_editor.connection.vendor, undo=False):
        schema_editor.execute(statement)
    users, username = _users(apps)
    schema_editor.execute(f"UPDATE {JOBS} SET creator_name = (SELECT {username} FROM {users} "
                          f"WHERE {users}.id = {JOBS}.created_by_id) WHERE created_by_id IS NOT NULL")


def remove_triggers(apps, schema_editor):
    for statement in _statements(apps, schema_editor.connection.vendor, undo=True):
        schema_editor.execute(statement)


class Migration(migrations.Migration):

    dependencies = [
        ("hpo_jobs", "0017_job_list_sort_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="hpojob",
            name="creator_name",
            field=models.CharField(blank=True, editable=False, max_length=150, null=True),
        ),
        migrations.RunPython(add_triggers, remove_triggers),
        migrations.AddIndex(
            model_name="hpojob",
            index=models.Index(fields=["project", "creator_name", "-created_at", "-id"], name="hpojob_list_creator_up"),
        ),
        migrations.AddIndex(
            model_name="hpojob",
            index=models.Index(fields=["project", "-creator_name", "-created_at", "-id"],
                               name="hpojob_list_creator_down"),
        ),
    ]
