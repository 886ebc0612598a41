"""What the API reads and answers: plain data, the same the pages show, with its schema."""

from __future__ import annotations

from urllib.parse import quote

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from hpo_jobs.models import HpoJob

# ---- errors ---------------------------------------------------------------------------------------


class ProblemErrorSerializer(serializers.Serializer):
    path = serializers.CharField(help_text="Where the problem is: a JSON path into the body, e.g. "
                                           "request.HyperParameterTuningJobConfig.Strategy ('' for the whole body).",
                                 allow_blank=True)
    message = serializers.CharField()


class ProblemSerializer(serializers.Serializer):
    """An RFC 9457 problem details document."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField(allow_blank=True)
    errors = ProblemErrorSerializer(many=True, required=False)


# ---- projects -------------------------------------------------------------------------------------
class ProjectSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    role = serializers.CharField(allow_null=True, help_text="owner or member; null for staff outside the project")
    can_create_jobs = serializers.BooleanField()
    jobs_url = serializers.CharField()
    web_url = serializers.CharField()


# ---- jobs -----------------------------------------------------------------------------------------
STATUSES = [s.value for s in HpoJob.Status]


class JobSummarySerializer(serializers.Serializer):
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=STATUSES)
    strategy = serializers.CharField()
    backend = serializers.CharField()
    created_by = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    completed_count = serializers.IntegerField()
    max_training_jobs = serializers.IntegerField(allow_null=True)
    best_objective_value = serializers.FloatField(allow_null=True)
    objective_metric = serializers.CharField(allow_null=True)
    url = serializers.CharField()
    web_url = serializers.CharField()


class JobPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    page = serializers.IntegerField()
    pages = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    status_counts = serializers.DictField(child=serializers.IntegerField(),
                                          help_text="The project's jobs by status (not narrowed by the filter).")
    results = JobSummarySerializer(many=True)


class CounterSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    value = serializers.IntegerField()


class ProgressSerializer(serializers.Serializer):
    completed = serializers.IntegerField()
    total = serializers.IntegerField(allow_null=True)
    percent = serializers.IntegerField(allow_null=True)


class ObjectiveSerializer(serializers.Serializer):
    metric = serializers.CharField(allow_blank=True)
    type = serializers.CharField()


class BestTrainingJobSerializer(serializers.Serializer):
    name = serializers.CharField()
    tuning_job = serializers.CharField()
    from_parent = serializers.BooleanField()
    definition = serializers.CharField(allow_blank=True)
    status = serializers.CharField(allow_blank=True)
    objective_status = serializers.CharField(allow_blank=True)
    metric = serializers.CharField(allow_blank=True)
    type = serializers.CharField(allow_blank=True)
    value = serializers.FloatField(allow_null=True)
    tuned_hyperparameters = serializers.DictField(child=serializers.CharField(allow_blank=True))
    static_hyperparameters = serializers.DictField(child=serializers.CharField(allow_blank=True))
    created = serializers.DateTimeField(allow_null=True)
    started = serializers.DateTimeField(allow_null=True)
    ended = serializers.DateTimeField(allow_null=True)
    duration_seconds = serializers.FloatField(allow_null=True)
    url = serializers.CharField(allow_null=True, help_text="The training job in the API, when the portal holds it.")


class JobLinksSerializer(serializers.Serializer):
    self = serializers.CharField()
    web = serializers.CharField()
    training_jobs = serializers.CharField()
    training_jobs_csv = serializers.CharField()
    request = serializers.CharField()
    stop = serializers.CharField()
    clone = serializers.CharField()


class TimeLeftSerializer(serializers.Serializer):
    seconds = serializers.FloatField(allow_null=True, help_text="The likely time left, in seconds (null: not known yet).")
    low_seconds = serializers.FloatField(allow_null=True, help_text="The low end of the estimate's range.")
    high_seconds = serializers.FloatField(allow_null=True, help_text="The high end of the estimate's range.")
    ends_at = serializers.DateTimeField(allow_null=True, help_text="When the job likely ends.")
    basis = serializers.CharField(help_text="What the estimate rests on, in words.")


class InstanceUsageSerializer(serializers.Serializer):
    instance_type = serializers.CharField()
    instance_count = serializers.IntegerField(help_text="Instances per training job.")
    training_jobs = serializers.IntegerField()
    instance_hours = serializers.FloatField()
    price_per_hour_usd = serializers.FloatField(allow_null=True,
                                                help_text="The site settings' price; null when staff set none.")
    cost_usd = serializers.FloatField(allow_null=True)


class UsageSerializer(serializers.Serializer):
    instance_hours = serializers.FloatField(help_text="Every training job's start to end (a running one's to now) "
                                            "times its instance count, in hours.")
    cost_usd = serializers.FloatField(allow_null=True,
                                      help_text="At the site settings' prices; null when an instance type has none.")
    by_instance = InstanceUsageSerializer(many=True)


class JobDetailSerializer(serializers.Serializer):
    name = serializers.CharField()
    project = serializers.CharField()
    status = serializers.ChoiceField(choices=STATUSES)
    active = serializers.BooleanField()
    engine_status = serializers.CharField(allow_blank=True)
    failure_reason = serializers.CharField(allow_blank=True)
    strategy = serializers.CharField()
    backend = serializers.CharField()
    created_by = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    objective = ObjectiveSerializer()
    progress = ProgressSerializer()
    counters = CounterSerializer(many=True)
    training_job_count = serializers.IntegerField(help_text="Child training jobs the portal holds.")
    best_training_job = BestTrainingJobSerializer(allow_null=True)
    best_estimated = serializers.BooleanField(
        help_text="True when the engine named no best training job yet and the best stored one is shown.")
    overall_best_training_job = BestTrainingJobSerializer(allow_null=True)
    can_stop = serializers.BooleanField()
    configuration = serializers.DictField(
        help_text="The request read for people, as the job page's definitions and configuration tabs show it: "
        "settings, definitions (algorithm, objective, static and tuned hyperparameters, channels, resources), "
        "tuning resources, warm start and tags.")
    request = serializers.DictField(help_text="The exact CreateHyperParameterTuningJob request the job sends.")
    consumed_runtime_seconds = serializers.FloatField(
        allow_null=True, help_text="The tuning job's runtime as its engine reports it (ConsumedResources).")
    time_left = TimeLeftSerializer(allow_null=True, help_text="While the job runs: an estimate of its time left, "
                                   "from its finished training jobs' durations, its parallelism and its budget.")
    usage = UsageSerializer(help_text="Instance-hours per instance type and count, and their cost.")
    links = JobLinksSerializer()


@extend_schema_field({"type": "object", "additionalProperties": True})
class RequestField(serializers.Field):
    """A request as JSON gave it, judged by the import page's rules rather than here."""

    def to_internal_value(self, data):
        return data

    def to_representation(self, value):
        return value


class CreateJobSerializer(serializers.Serializer):
    """A create: a CreateHyperParameterTuningJob request, checked by the import page's rules."""

    request = RequestField(help_text="A CreateHyperParameterTuningJob request (or a describe output).")
    name = serializers.CharField(required=False, allow_blank=True, max_length=32,
                                 help_text="Optional: replaces the name in the request.")
    client_token = serializers.CharField(required=False, allow_blank=True, max_length=255,
                                         help_text="Optional: as the Idempotency-Key header.")


class CloneSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="A free name for the copy, already set in the request.")
    request = serializers.DictField(help_text="The job's request under the new name, ready to edit and create.")


# ---- training jobs --------------------------------------------------------------------------------
class TrainingJobSerializer(serializers.Serializer):
    """One child training job, read from its stored row."""

    name = serializers.CharField()
    definition_name = serializers.CharField(allow_blank=True)
    status = serializers.CharField()
    objective_metric = serializers.CharField(source="objective_metric_name", allow_blank=True)
    objective_value = serializers.FloatField(allow_null=True)
    objective_status = serializers.CharField(allow_blank=True)
    failure_reason = serializers.CharField(allow_blank=True)
    creation_time = serializers.DateTimeField(allow_null=True)
    start_time = serializers.DateTimeField(allow_null=True)
    end_time = serializers.DateTimeField(allow_null=True)
    tuned_hyperparameters = serializers.DictField(child=serializers.CharField(allow_blank=True))
    url = serializers.SerializerMethodField()

    @extend_schema_field(str)
    def get_url(self, obj) -> str:
        return self.context["training_job_url"].replace("__TJ__", quote(obj.name, safe=""))


class FinalMetricSerializer(serializers.Serializer):
    name = serializers.CharField()
    value = serializers.FloatField()
    objective = serializers.BooleanField()


class TrainingJobDetailSerializer(TrainingJobSerializer):
    """A training job with what its page shows beside: its final metrics and the end of its log."""

    is_best = serializers.BooleanField()
    final_metrics = FinalMetricSerializer(many=True)
    metric_error = serializers.CharField(allow_blank=True)
    log_tail = serializers.CharField(allow_blank=True, help_text="The end of the log, as the training job's page shows it.")
    log_truncated = serializers.BooleanField()
    log_error = serializers.CharField(allow_blank=True)


# ---- the catalogue --------------------------------------------------------------------------------
class CatalogueHyperparameterSerializer(serializers.Serializer):
    name = serializers.CharField()
    types = serializers.ListField(child=serializers.CharField())
    default = serializers.CharField(allow_null=True)
    min_value = serializers.FloatField(allow_null=True)
    max_value = serializers.FloatField(allow_null=True)
    options = serializers.ListField(child=serializers.CharField())
    scaling = serializers.CharField()
    required = serializers.BooleanField()
    value_type = serializers.CharField()
    description = serializers.CharField(allow_blank=True)


class CatalogueMetricSerializer(serializers.Serializer):
    name = serializers.CharField()
    direction = serializers.CharField()


class CatalogueAlgorithmSerializer(serializers.Serializer):
    key = serializers.CharField()
    display_name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    runnable = serializers.BooleanField(help_text="Whether the engine in use can run it.")
    image_uri = serializers.CharField(allow_null=True)
    default_input_mode = serializers.CharField()
    supports_early_stopping = serializers.BooleanField()
    objective_metrics = CatalogueMetricSerializer(many=True)
    hyperparameters = CatalogueHyperparameterSerializer(many=True)


class CatalogueSerializer(serializers.Serializer):
    backend = serializers.CharField()
    region = serializers.CharField()
    algorithms = CatalogueAlgorithmSerializer(many=True)
