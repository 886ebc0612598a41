"""HPO jobs as the portal keeps them: our own status vocabulary, the exact request sent, and the
engine's last answers beside it. Only ``hpo_jobs.services`` changes a job's state."""

from __future__ import annotations

from django.conf import settings
from datetime import datetime
from datetime import timezone as dt_timezone

from django.db import models
from django.db.models.functions import Coalesce, Lower
from django.db.models.lookups import IsNull
from django.urls import reverse

from hpo_jobs.sagemaker import request as facts


class SiteSettings(models.Model):
    """Site-wide settings that staff edit at /settings/: one row (pk=1)."""

    ecr_enabled = models.BooleanField(
        "custom algorithms from ECR", default=False,
        help_text="When off, custom images are not offered and are refused in submitted or imported requests.",
    )
    ecr_allowed = models.TextField(
        "allowed registries and repository prefixes", blank=True,
        help_text="One per line, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com or "
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/team-a/. An image URI must start with one of them.",
    )
    instance_types = models.TextField(
        "instance types offered",
        default="ml.m5.large\nml.m5.xlarge\nml.m5.2xlarge\nml.c5.xlarge\nml.c5.2xlarge\nml.p3.2xlarge\nml.g5.xlarge",
        help_text="One per line; the wizard offers these and only these.",
    )
    # What an instance type costs, for the job pages' cost estimates: {"ml.m5.xlarge": 0.23, ...} in
    # USD per instance-hour. Staff set it; the code holds no prices (they change, and differ by region).
    instance_prices = models.JSONField(
        "price per instance-hour (USD)", default=dict, blank=True,
        help_text='A JSON object, instance type to USD per hour, e.g. {"ml.m5.xlarge": 0.23}. '
        "Jobs on an instance type without a price show instance-hours only.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "site settings"
        verbose_name_plural = "site settings"

    def __str__(self) -> str:
        return "Site settings"

    @classmethod
    def load(cls) -> "SiteSettings":
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj

    @property
    def ecr_allowed_list(self) -> list[str]:
        return [line.strip() for line in self.ecr_allowed.splitlines() if line.strip()]

    @property
    def instance_type_list(self) -> list[str]:
        return [line.strip() for line in self.instance_types.splitlines() if line.strip()]


# Sentinels for the sort keys of the models below: a key is never NULL, so that a page's cursor is one row-value
# comparison that an index serves (a NULL compares to nothing).
FLOAT_MAX = 1.7976931348623157e308
EPOCH = datetime(1970, 1, 1, tzinfo=dt_timezone.utc)


class SecondsBetween(models.Func):
    """``end - start`` in seconds, as a float, in SQL each database computes by itself (so that a
    generated column may hold it: SQLite's datetime arithmetic is otherwise a Python function)."""

    arity = 2
    output_field = models.FloatField()

    def as_sql(self, compiler, connection, **extra):
        return self.as_sqlite(compiler, connection, **extra)

    def as_sqlite(self, compiler, connection, **extra):
        end, start = (compiler.compile(e) for e in self.get_source_expressions())
        return f"((julianday({end[0]}) - julianday({start[0]})) * 86400.0)", (*end[1], *start[1])

    def as_postgresql(self, compiler, connection, **extra):
        end, start = (compiler.compile(e) for e in self.get_source_expressions())
        return f"EXTRACT(EPOCH FROM ({end[0]} - {start[0]}))::float8", (*end[1], *start[1])


# The first key of the job list's best-first and worst-first orders (views.JOB_SORTS): whether the
# job has no best value yet, so that those jobs come last both ways on an index of both databases
# (SQLite's indexes take no NULLS LAST).
NO_BEST_VALUE = IsNull(models.F("best_objective_value"), True)


class HpoJob(models.Model):
    class Status(models.TextChoices):
        PENDING = "Pending"  # stored, launch not yet confirmed by the engine
        IN_PROGRESS = "InProgress"
        COMPLETED = "Completed"
        FAILED = "Failed"
        STOPPING = "Stopping"
        STOPPED = "Stopped"
        DELETING = "Deleting"
        DELETE_FAILED = "DeleteFailed"  # the engine could not delete the ended job; it still exists there
        DELETED = "Deleted"  # the engine no longer knows the job (deleted on its side)
        UNKNOWN = "Unknown"  # the engine answered a status we do not know; kept in engine_status

    ACTIVE_STATUSES = (Status.PENDING, Status.IN_PROGRESS, Status.STOPPING, Status.UNKNOWN)
    TERMINAL_STATUSES = (Status.COMPLETED, Status.FAILED, Status.STOPPED, Status.DELETED, Status.DELETE_FAILED)
    # The statuses a user may stop: the engine may still run something. Stopping is already on
    # its way; Deleting and the terminal statuses have nothing left to stop.
    STOPPABLE_STATUSES = (Status.PENDING, Status.IN_PROGRESS, Status.UNKNOWN)
    # Past this many tuned hyperparameters the training jobs table has no column (nor order) for each.
    SORTED_HYPERPARAMETERS_MAX = 8

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="hpo_jobs")
    name = models.CharField(max_length=32)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="hpo_jobs"
    )
    # created_by's username, for the job list's creator column and its order (an index serves it):
    # kept by the database itself, with triggers (migration 0018) on the jobs' rows and on the
    # users' renames, whatever writes them; a write of it is undone. Never written by the portal's code,
    # and unset on an instance just created (read it from the database).
    creator_name = models.CharField(max_length=150, null=True, blank=True, editable=False)
    backend = models.CharField(max_length=20)
    # The exact CreateHyperParameterTuningJob request, as sent to the engine.
    request = models.JSONField()
    strategy = models.CharField(max_length=20)

    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    engine_status = models.CharField(max_length=40, blank=True)  # the raw status the engine answered
    failure_reason = models.TextField(blank=True)
    arn = models.CharField(max_length=256, blank=True)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    launch_queued_at = models.DateTimeField(null=True, blank=True)
    launched_at = models.DateTimeField(null=True, blank=True)
    launch_attempts = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)  # engine's CreationTime
    ended_at = models.DateTimeField(null=True, blank=True)
    engine_last_modified = models.DateTimeField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    # A poller claims a job until this time so that overlapping beats never sync it twice at once.
    sync_claimed_until = models.DateTimeField(null=True, blank=True)
    stop_requested_at = models.DateTimeField(null=True, blank=True)
    # Who asked for the stop: the pages say why a job and its training jobs ended.
    stop_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # When the stop call was last queued: the sweep queues it again if it was lost.
    stop_queued_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)

    # Mirrored from the engine's describe response.
    training_job_status_counters = models.JSONField(default=dict, blank=True)
    objective_status_counters = models.JSONField(default=dict, blank=True)
    completion_details = models.JSONField(default=dict, blank=True)
    best_training_job = models.JSONField(null=True, blank=True)
    overall_best_training_job = models.JSONField(null=True, blank=True)
    best_objective_value = models.FloatField(null=True, blank=True)
    completed_count = models.PositiveIntegerField(default=0)
    # Children that have ended, whatever the end (Completed, Stopped, early-stopped, failed): the progress.
    finished_count = models.PositiveIntegerField(default=0)
    max_training_jobs = models.PositiveIntegerField(null=True, blank=True)
    last_describe = models.JSONField(null=True, blank=True)
    # The counters and last-modified time of the last child listing: children are listed again
    # only when the describe response differs from this.
    children_fingerprint = models.CharField(max_length=128, blank=True)
    # The last error met talking to the engine about this job (throttling, credentials...), shown
    # on its page while the job waits for a retry; cleared by the next successful call.
    engine_error = models.TextField(blank=True)
    # Consecutive failed syncs: the next one waits longer each time (exponential backoff).
    engine_error_count = models.PositiveIntegerField(default=0)
    # Hyperparameter importance and the narrowed-range suggestion (hpo_jobs.pages.insights), computed
    # by a task from this many evaluated children: the sync and a sweep queue it when the count lags.
    insights = models.JSONField(null=True, blank=True)
    insights_count = models.PositiveIntegerField(default=0)
    # The tuned hyperparameters the training jobs table offers to sort by (facts.tuned_names of the
    # request, [] when there are more than SORTED_HYPERPARAMETERS_MAX: the table shows them in one
    # cell then), set by save(). The database keeps every child's key under each of them
    # (TrainingJobSortKey); NULL on a job stored around save(), whose table sorts row by row.
    sort_hyperparameters = models.JSONField(null=True, blank=True, editable=False)
    # How long it took, in seconds, for the job list's duration order (an index serves it); a job
    # still going sorts as longer than any that has ended, as in the training jobs table.
    duration_key = models.GeneratedField(
        expression=Coalesce(SecondsBetween(models.F("ended_at"), Coalesce(models.F("started_at"), models.F("created_at"))),
                            models.Value(FLOAT_MAX)),
        output_field=models.FloatField(), db_persist=True,
    )

    class Meta:
        constraints = [
            # Tuning job names are unique per account and region, case-insensitively.
            models.UniqueConstraint(Lower("name"), name="hpojob_name_ci_unique"),
        ]
        indexes = [
            # The job list's default order: its keyset pages seek on it, and a page read by number skips
            # its ids on it alone (an index-only scan on PostgreSQL).
            models.Index(fields=["project", "-created_at", "-id"], name="hpojob_list_created"),
            # Each other order the list offers (views.JOB_SORTS), both ways: a page reads its 20 index
            # entries, and a page by number skips ids on the index, however many jobs the project has.
            # Two each, since the tie-break stays newest first whichever way the column runs. The first
            # also serves one status's jobs newest first (the list filtered by a status). Best first and
            # worst first lead with NO_BEST_VALUE: the jobs without one last, both ways.
            models.Index(fields=["project", "status", "-created_at", "-id"], name="hpojob_list_status_up"),
            models.Index(fields=["project", "-status", "-created_at", "-id"], name="hpojob_list_status_down"),
            models.Index(fields=["project", "finished_count", "-created_at", "-id"], name="hpojob_list_progress_up"),
            models.Index(fields=["project", "-finished_count", "-created_at", "-id"], name="hpojob_list_progress_down"),
            models.Index(fields=["project", "strategy", "-created_at", "-id"], name="hpojob_list_strategy_up"),
            models.Index(fields=["project", "-strategy", "-created_at", "-id"], name="hpojob_list_strategy_down"),
            models.Index(fields=["project", "backend", "-created_at", "-id"], name="hpojob_list_engine_up"),
            models.Index(fields=["project", "-backend", "-created_at", "-id"], name="hpojob_list_engine_down"),
            models.Index(models.F("project"), Lower("name"), models.F("id"), name="hpojob_list_name"),  # read backwards for "-name"
            models.Index(models.F("project"), NO_BEST_VALUE, models.F("best_objective_value"),
                         models.F("created_at").desc(), models.F("id").desc(), name="hpojob_list_best_asc"),
            models.Index(models.F("project"), NO_BEST_VALUE, models.F("best_objective_value").desc(),
                         models.F("created_at").desc(), models.F("id").desc(), name="hpojob_list_best_desc"),
            models.Index(fields=["project", "duration_key", "-created_at", "-id"], name="hpojob_list_duration_up"),
            models.Index(fields=["project", "-duration_key", "-created_at", "-id"], name="hpojob_list_duration_down"),
            models.Index(fields=["project", "creator_name", "-created_at", "-id"], name="hpojob_list_creator_up"),
            models.Index(fields=["project", "-creator_name", "-created_at", "-id"], name="hpojob_list_creator_down"),
            # The job list's name search counts its matches from this index alone (the name is in it),
            # never from the rows, whose requests make them wide. On PostgreSQL a trigram index on
            # UPPER(name) also finds the matches of a search of three characters or more (migration
            # 0013 creates it there only, so it is not declared here).
            models.Index(fields=["project", "status", "name"], name="hpojob_search"),
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("hpo_jobs:detail", args=[self.project.slug, self.name])

    def save(self, *args, **kwargs) -> None:
        names = facts.tuned_names(self.request)
        self.sort_hyperparameters = names if len(names) <= self.SORTED_HYPERPARAMETERS_MAX else []
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "request" in update_fields:
            kwargs["update_fields"] = {*update_fields, "sort_hyperparameters"}
        super().save(*args, **kwargs)

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL_STATUSES

    @property
    def is_stoppable(self) -> bool:
        """Whether a stop of the job is offered and accepted now (who may stop it is access.can_stop_job)."""
        return self.status in self.STOPPABLE_STATUSES

    @property
    def definitions(self) -> list[facts.Definition]:
        """The request's training job definitions (each with its objective and ranges), whichever of
        the two request forms was used."""
        return facts.definitions(self.request)


class ProjectJobCount(models.Model):
    """How many of a project's jobs have a status, for the job list's filter and count: kept by the
    database itself, with triggers on HpoJob's rows (migration 0015), so that every insert, status
    change, move and delete (a save, a QuerySet.update, a cascade) is counted, and the list reads a
    handful of rows instead of counting every job. Never written by the portal's code."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="job_counts")
    status = models.CharField(max_length=20)
    n = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "status"], name="projectjobcount_unique")]

    def __str__(self) -> str:
        return f"{self.project_id} {self.status}: {self.n}"


class TrainingJob(models.Model):
    """One child training job of a tuning job, upserted from the engine's listing."""

    hpo_job = models.ForeignKey(HpoJob, on_delete=models.CASCADE, related_name="training_jobs")
    name = models.CharField(max_length=63)
    arn = models.CharField(max_length=256, blank=True)
    definition_name = models.CharField(max_length=64, blank=True, db_index=True)
    status = models.CharField(max_length=20, db_index=True)
    tuned_hyperparameters = models.JSONField(default=dict, blank=True)
    objective_metric_name = models.CharField(max_length=255, blank=True)
    objective_value = models.FloatField(null=True, blank=True)
    objective_status = models.CharField(max_length=20, blank=True)
    failure_reason = models.TextField(blank=True)
    creation_time = models.DateTimeField(null=True, blank=True)
    start_time = models.DateTimeField(null=True, blank=True)
    end_time = models.DateTimeField(null=True, blank=True)
    warm_start_parent = models.CharField(max_length=32, blank=True)  # TuningJobName when from a parent
    summary = models.JSONField(default=dict, blank=True)  # the engine's summary as listed
    # Every metric's values as the engine read them from the log ({name: [values]}, the last
    # 1,000 each), mirrored once the training job has ended; NULL until then.
    metric_series = models.JSONField(null=True, blank=True)

    # The training jobs table's sort keys, kept by the database itself (never written by code): the
    # objective with no value last whichever way it is sorted (best first is descending for Maximize,
    # ascending for Minimize), and the creation time. Each has an index with the job and the id.
    objective_up_key = models.GeneratedField(
        expression=Coalesce(models.F("objective_value"), models.Value(FLOAT_MAX)),
        output_field=models.FloatField(), db_persist=True,
    )
    objective_down_key = models.GeneratedField(
        expression=Coalesce(models.F("objective_value"), models.Value(-FLOAT_MAX)),
        output_field=models.FloatField(), db_persist=True,
    )
    # How long it ran, in seconds; a running one sorts as longer than any that has ended.
    duration_key = models.GeneratedField(
        expression=Coalesce(SecondsBetween(models.F("end_time"), Coalesce(models.F("start_time"), models.F("creation_time"))),
                            models.Value(FLOAT_MAX)),
        output_field=models.FloatField(), db_persist=True,
    )
    created_key = models.GeneratedField(
        expression=Coalesce(models.F("creation_time"), models.Value(EPOCH)),
        output_field=models.DateTimeField(), db_persist=True,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["hpo_job", "name"], name="trainingjob_unique_per_hpojob"),
        ]
        indexes = [
            models.Index(fields=["hpo_job", "creation_time"]),
            # The best job, its rank, ties, runner-up and median: counted from the index alone (the
            # columns those filters read are in it; SQLite has no INCLUDE, so they are key columns).
            models.Index(fields=["hpo_job", "objective_value", "objective_status", "objective_metric_name", "end_time",
                                 "creation_time", "name"], name="trainingjob_objective"),
            # One per sort of the training jobs table (name is the unique constraint's).
            models.Index(fields=["hpo_job", "status", "created_key", "id"], name="trainingjob_status_sort"),
            models.Index(fields=["hpo_job", "objective_up_key", "id"], name="trainingjob_objective_up"),
            models.Index(fields=["hpo_job", "objective_down_key", "id"], name="trainingjob_objective_down"),
            models.Index(fields=["hpo_job", "created_key", "id"], name="trainingjob_created_sort"),
            models.Index(fields=["hpo_job", "duration_key", "id"], name="trainingjob_duration_sort"),
        ]
        ordering = ["creation_time", "name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse(
            "hpo_jobs:training_job", args=[self.hpo_job.project.slug, self.hpo_job.name, self.name]
        )


class TrainingJobSortKey(models.Model):
    """A training job's key under one of its job's sort_hyperparameters, for the training jobs table
    sorted by that hyperparameter: an index per direction serves the order, as for the table's other
    sorts. The value as a number when it reads as one (else the number key is the sentinel, so text
    and absent values come after every number whichever way the column runs), then as text.

    Kept by the database itself, with triggers (migration 0019) on the children's inserts, changes of
    their hyperparameters and deletes, and on a change of the job's names; never written by the
    portal's code. A job's delete removes its keys (the cascade from ``hpo_job``)."""

    hpo_job = models.ForeignKey(HpoJob, on_delete=models.CASCADE, related_name="+", db_index=False)
    # No constraint: the trigger on the children's deletes removes the keys (a cascade here would make
    # Django read every child of a job it deletes, instead of deleting them in one statement).
    training_job = models.ForeignKey(TrainingJob, on_delete=models.DO_NOTHING, db_constraint=False,
                                     related_name="sort_keys", db_index=False)
    name = models.TextField()
    up_key = models.FloatField()  # the number, else FLOAT_MAX: ascending, text and absent values last
    down_key = models.FloatField()  # the number, else -FLOAT_MAX: descending, text and absent values last
    text_key = models.CharField(max_length=200)  # the value's first 200 characters, "" when absent

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["training_job", "name"], name="trainingjobsortkey_unique"),
        ]
        indexes = [
            models.Index(fields=["hpo_job", "name", "up_key", "text_key", "training_job"],
                         name="trainingjobsortkey_up"),
            models.Index(fields=["hpo_job", "name", "down_key", "text_key", "training_job"],
                         name="trainingjobsortkey_down"),
        ]

    def __str__(self) -> str:
        return f"{self.training_job_id} {self.name}"


class EngineHealth(models.Model):
    """What the workers last learned about reaching an engine (credentials, access), per backend.

    /healthz reads this row instead of calling AWS itself: no network call per probe, and it
    reports what the workers actually saw.
    """

    backend = models.CharField(max_length=20, primary_key=True)
    ok = models.BooleanField(default=True)
    detail = models.TextField(blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "engine health"

    def __str__(self) -> str:
        return f"{self.backend}: {'ok' if self.ok else self.detail}"
