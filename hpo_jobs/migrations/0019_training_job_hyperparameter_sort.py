"""The training jobs table sorted by a tuned hyperparameter, served by an index: each child's key
under each of its job's sortable hyperparameters (HpoJob.sort_hyperparameters) in a table of its own
(TrainingJobSortKey), kept by triggers on PostgreSQL and on SQLite alike. A child's insert adds its
keys, a change of its hyperparameters replaces them, its delete removes them, and a change of a job's
names rebuilds that job's keys; the names of the jobs already stored are set here, which builds theirs.

A value is a number when it reads as one (the same pattern on both databases, bounded so that no
value overflows a float), else it is text; absent, it is the empty text."""

from django.db import migrations, models
import django.db.models.deletion

from hpo_jobs.sagemaker import request as facts

JOBS = "hpo_jobs_hpojob"
CHILDREN = "hpo_jobs_trainingjob"
KEYS = "hpo_jobs_trainingjobsortkey"
FLOAT_MAX = "1.7976931348623157e308"
NUMBER = r"^\s*[-+]?([0-9]{1,200}\.?[0-9]{0,200}|\.[0-9]{1,200})([eE][-+]?[0-9]{1,2})?\s*$"
SORTED_MAX = 8  # HpoJob.SORTED_HYPERPARAMETERS_MAX when this was written
TEXT_KEY_CHARS = 200


def _pg_keys_of(source: str) -> str:
    """The INSERT of the keys of the children ``source`` (rows of id, hpo_job_id, tuned_hyperparameters)."""
    return f"""INSERT INTO {KEYS} (hpo_job_id, training_job_id, name, up_key, down_key, text_key)
        SELECT c.hpo_job_id, c.id, n.name, COALESCE(v.number, {FLOAT_MAX}), COALESCE(v.number, -{FLOAT_MAX}),
               COALESCE(left(v.text, {TEXT_KEY_CHARS}), '')
        FROM {source} c
        JOIN {JOBS} j ON j.id = c.hpo_job_id
        CROSS JOIN LATERAL (SELECT DISTINCT e.name FROM jsonb_array_elements_text(
            CASE WHEN jsonb_typeof(j.sort_hyperparameters) = 'array' THEN j.sort_hyperparameters
                 ELSE '[]'::jsonb END) AS e(name)) n
        CROSS JOIN LATERAL (SELECT c.tuned_hyperparameters ->> n.name AS text) t
        CROSS JOIN LATERAL (SELECT t.text, CASE WHEN t.text ~ '{NUMBER}' THEN t.text::float8 END AS number) v"""


def _sqlite_keys_of(child: str, source: str = "", condition: str = "") -> str:
    """The INSERT of the keys of the children ``child`` (NEW in a row trigger, else the table that
    ``source`` names, chosen by ``condition``) under their jobs' names (a name given twice is kept
    once: OR IGNORE)."""
    number = (f"CASE WHEN h.type IN ('integer', 'real') THEN h.value "
              f"WHEN h.type = 'text' AND CAST(h.value AS REAL) = h.value "
              f"AND CAST(h.value AS REAL) BETWEEN -{FLOAT_MAX} AND {FLOAT_MAX} THEN CAST(h.value AS REAL) END")
    text = "CASE h.type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST(h.value AS TEXT) END"
    return f"""INSERT OR IGNORE INTO {KEYS} (hpo_job_id, training_job_id, name, up_key, down_key, text_key)
        SELECT {child}.hpo_job_id, {child}.id, n.value, COALESCE({number}, {FLOAT_MAX}),
               COALESCE({number}, -{FLOAT_MAX}), COALESCE(substr({text}, 1, {TEXT_KEY_CHARS}), '')
        FROM {source}{JOBS} j
        JOIN json_each(CASE WHEN json_type(j.sort_hyperparameters) = 'array' THEN j.sort_hyperparameters
                            ELSE '[]' END) n
        LEFT JOIN json_each({child}.tuned_hyperparameters) h ON h.key = n.value
        WHERE j.id = {child}.hpo_job_id AND n.type = 'text'{condition};"""


def _pg_triggers() -> dict[str, tuple[str, str, str, str]]:
    """PostgreSQL's triggers: name -> (event, table, how it fires, its function's body)."""
    return {
        # Once per statement: a bulk insert of 10,000 children adds their keys in one INSERT.
        "hpo_jobs_sort_keys_insert": (
            "AFTER INSERT", CHILDREN, "REFERENCING NEW TABLE AS added FOR EACH STATEMENT",
            _pg_keys_of("added")),
        # A trigger on some columns only cannot see a transition table: this one runs per row, only
        # when the hyperparameters (or the job) changed.
        "hpo_jobs_sort_keys_update": (
            "AFTER UPDATE OF tuned_hyperparameters, hpo_job_id", CHILDREN,
            "FOR EACH ROW WHEN (OLD.tuned_hyperparameters IS DISTINCT FROM NEW.tuned_hyperparameters "
            "OR OLD.hpo_job_id IS DISTINCT FROM NEW.hpo_job_id)",
            f"DELETE FROM {KEYS} WHERE training_job_id = OLD.id; "
            + _pg_keys_of("(SELECT NEW.id AS id, NEW.hpo_job_id AS hpo_job_id, "
                          "NEW.tuned_hyperparameters AS tuned_hyperparameters)")),
        "hpo_jobs_sort_keys_delete": (
            "AFTER DELETE", CHILDREN, "REFERENCING OLD TABLE AS gone FOR EACH STATEMENT",
            f"DELETE FROM {KEYS} k USING gone WHERE k.training_job_id = gone.id"),
        "hpo_jobs_sort_keys_names": (
            "AFTER UPDATE OF sort_hyperparameters", JOBS,
            "FOR EACH ROW WHEN (OLD.sort_hyperparameters IS DISTINCT FROM NEW.sort_hyperparameters)",
            f"DELETE FROM {KEYS} WHERE hpo_job_id = NEW.id; "
            + _pg_keys_of(f"(SELECT id, hpo_job_id, tuned_hyperparameters FROM {CHILDREN} WHERE hpo_job_id = NEW.id)")),
    }


def _sqlite_triggers() -> dict[str, str]:
    """SQLite's triggers: name -> when it fires and what it does."""
    return {
        "hpo_jobs_sort_keys_insert": f"AFTER INSERT ON {CHILDREN} BEGIN {_sqlite_keys_of('NEW')} END",
        "hpo_jobs_sort_keys_update": (
            f"AFTER UPDATE OF tuned_hyperparameters, hpo_job_id ON {CHILDREN} "
            "WHEN OLD.tuned_hyperparameters IS NOT NEW.tuned_hyperparameters OR OLD.hpo_job_id IS NOT NEW.hpo_job_id "
            f"BEGIN DELETE FROM {KEYS} WHERE training_job_id = OLD.id; {_sqlite_keys_of('NEW')} END"),
        "hpo_jobs_sort_keys_delete": (
            f"AFTER DELETE ON {CHILDREN} BEGIN DELETE FROM {KEYS} WHERE training_job_id = OLD.id; END"),
        "hpo_jobs_sort_keys_names": (
            f"AFTER UPDATE OF sort_hyperparameters ON {JOBS} WHEN OLD.sort_hyperparameters IS NOT NEW.sort_hyperparameters "
            f"BEGIN DELETE FROM {KEYS} WHERE hpo_job_id = NEW.id; "
            f"{_sqlite_keys_of('c', f'{CHILDREN} c, ', ' AND c.hpo_job_id = NEW.id')} END"),
    }


def _statements(vendor: str, undo: bool) -> list[str]:
    if vendor == "postgresql":
        triggers = _pg_triggers()
        if undo:
            return [statement for name, (_event, table, _how, _body) in triggers.items() for statement in (
                f"DROP TRIGGER IF EXISTS {name} ON {table}", f"DROP FUNCTION IF EXISTS {name}()")]
        return [statement for name, (event, table, how, body) in triggers.items() for statement in (
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body}; RETURN NULL; END $$",
            f"CREATE TRIGGER {name} {event} ON {table} {how} EXECUTE FUNCTION {name}()")]
    if vendor == "sqlite":
        if undo:
            return [f"DROP TRIGGER IF EXISTS {name}" for name in _sqlite_triggers()]
        return [f"CREATE TRIGGER {name} {trigger}" for name, trigger in _sqlite_triggers().items()]
    raise NotImplementedError(f"sort key triggers for {vendor}")


def add_triggers(apps, schema_editor):
    for statement in _statements(schema_editor.connection.vendor, undo=False):
        schema_editor.execute(statement)
    # The jobs already stored: their names (as HpoJob.save sets them), which builds their children's keys.
    HpoJob = apps.get_model("hpo_jobs", "HpoJob")
    for job in HpoJob.objects.only("id", "request").iterator(chunk_size=500):
        names = facts.tuned_names(job.request)
        HpoJob.objects.filter(pk=job.pk).update(sort_hyperparameters=names if len(names) <= SORTED_MAX else [])


def remove_triggers(apps, schema_editor):
    for statement in _statements(schema_editor.connection.vendor, undo=True):
        schema_editor.execute(statement)


class Migration(migrations.Migration):

    dependencies = [
        ('hpo_jobs', '0018_job_creator_name'),
    ]

    operations = [
        migrations.AddField(
            model_name='hpojob',
            name='sort_hyperparameters',
            field=models.JSONField(blank=True, editable=False, null=True),
        ),
        migrations.CreateModel(
            name='TrainingJobSortKey',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.TextField()),
                ('up_key', models.FloatField()),
                ('down_key', models.FloatField()),
                ('text_key', models.CharField(max_length=200)),
                ('hpo_job', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='hpo_jobs.hpojob')),
                ('training_job', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='sort_keys', to='hpo_jobs.trainingjob')),
            ],
            options={
                'indexes': [models.Index(fields=['hpo_job', 'name', 'up_key', 'text_key', 'training_job'], name='trainingjobsortkey_up'), models.Index(fields=['hpo_job', 'name', 'down_key', 'text_key', 'training_job'], name='trainingjobsortkey_down')],
                'constraints': [models.UniqueConstraint(fields=('training_job', 'name'), name='trainingjobsortkey_unique')],
            },
        ),
        migrations.RunPython(add_triggers, remove_triggers),
    ]
