"""The create wizard's forms: job settings, training job definitions, tuning resources, review.

Forms parse and convert input into the values ``convert.build_request`` reads; the wizard view
assigns them. Each step form can be given ``rules``: a callable that checks the step's values
against SageMaker's rules (``spec.validate_request`` on the assembled request) and returns the
problems located in this step, which the form puts next to the field they concern.

The definitions step is one composite form (``DefinitionsStepForm``) over a list of *drafts*: the
raw text of each definition as typed, valid or not, so that nothing typed is lost on a round trip.
One definition at a time is open in the editor (``DefinitionEditor``: a form and five formsets, for
hyperparameters, channels, metric definitions, environment variables and an instance pool's
configurations, under the prefix ``def``);
the others travel as JSON in one hidden field. Named submit buttons
(``def-action``) add, copy, edit and remove definitions and rows without JavaScript.
"""

from __future__ import annotations

import copy
import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.forms import formset_factory

from hpo_jobs.backends import Backend, BackendError, Capabilities, get_backend
from hpo_jobs.models import HpoJob, SiteSettings
from hpo_jobs.sagemaker import catalogue, spec
from hpo_jobs.sagemaker import request as facts

from . import convert, ecr

NAME_RE = facts.JOB_NAME_RE
DEFINITION_NAME_RE = facts.DEFINITION_NAME_RE
MAX_DEFINITIONS = facts.MAX_DEFINITIONS
MAX_HYPERPARAMETER_ROWS = 100  # SageMaker: 100 hyperparameters per definition, static and tuned together
MAX_CHANNELS = 20
MAX_INSTANCE_CONFIGS = facts.MAX_INSTANCE_CONFIGS
MAX_METRIC_DEFINITIONS = 40
MAX_ENVIRONMENT_ROWS = facts.MAX_ENVIRONMENT_VARIABLES  # SageMaker's limit is across all definitions
MAX_WARM_START_PARENTS = facts.MAX_WARM_START_PARENTS
# Rows read from a posted formset at most, whatever its management form claims (a tampered count
# must not make the server build thousands of forms); beyond the limits above the formset says so.
ABSOLUTE_MAX_ROWS = 200
MAX_DRAFTS = 50

STRATEGY_CHOICES = [
    ("Bayesian", "Bayesian: learns from earlier jobs which values to try next"),
    ("Random", "Random: independent draws, the most parallel"),
    ("Hyperband", "Hyperband: stops weak jobs early using per-epoch metrics"),
    ("Grid", "Grid: every combination of categorical values"),
]
EARLY_STOPPING_CHOICES = [("Off", "Off"), ("Auto", "Auto: stop jobs doing worse than the median")]
WARM_START_TYPE_CHOICES = [
    ("", "No warm start"),
    ("IdenticalDataAndAlgorithm", "Identical data and algorithm"),
    ("TransferLearning", "Transfer learning"),
]
KIND_CHOICES = [(kind, kind) for kind in catalogue.PARAMETER_TYPES]
SCALING_CHOICES = [(s, s) for s in catalogue.SCALING_TYPES]
DIRECTION_CHOICES = [(d, d) for d in catalogue.DIRECTIONS]
INPUT_MODE_CHOICES = [("File", "File"), ("Pipe", "Pipe"), ("FastFile", "FastFile")]
SOURCE_CHOICES = [("builtin", "Built-in"), ("custom", "Custom image")]
AUTO_KIND = "Auto"  # a hyperparameter whose range Autotune chooses, from an example value (ValueHint)
RESOURCE_KIND_CHOICES = [("single", "One instance type"), ("pool", "Instance pool: several types, tried in order")]
DATA_SOURCE_CHOICES = [("S3DataSource", "S3"), ("FileSystemDataSource", "File system")]
FILE_SYSTEM_TYPE_CHOICES = [("EFS", "EFS"), ("FSxLustre", "FSx for Lustre")]
FILE_SYSTEM_ACCESS_CHOICES = [("ro", "Read-only"), ("rw", "Read-write")]

Problem = tuple[tuple, str]  # (wizard location, message), see convert.Location
Rules = Callable[[Any], list[Problem]]


# ---- what the forms need to know about the site and the project ------------------------------------
@dataclass
class WizardOptions:
    """The site's policy and the project's facts that shape the wizard's choices."""

    project: Any
    user: Any
    engine: Backend  # the engine jobs run on: what it accepts shapes the choices offered
    region: str
    instance_types: list[str]
    ecr_enabled: bool
    ecr_allowed: list[str]
    warm_start_parents: list[tuple[str, str]] = field(default_factory=list)  # (name, label)
    _images: list[str] | None = None
    image_error: str = ""

    @classmethod
    def for_project(cls, project, user) -> WizardOptions:
        """The options for one request by ``user`` in ``project``."""
        site = SiteSettings.load()
        finished = (
            HpoJob.objects.filter(
                project=project, status__in=(HpoJob.Status.COMPLETED, HpoJob.Status.STOPPED, HpoJob.Status.FAILED)
            )
            .order_by("-created_at")
            .values_list("name", "status", "created_at")[:200]
        )
        return cls(
            project=project,
            user=user,
            engine=get_backend(),
            region=settings.AWS_REGION,
            instance_types=site.instance_type_list,
            ecr_enabled=site.ecr_enabled,
            ecr_allowed=site.ecr_allowed_list,
            warm_start_parents=[(name, f"{name} ({status}, {created:%Y-%m-%d})") for name, status, created in finished],
        )

    @property
    def capabilities(self) -> Capabilities:
        """What the engine accepts."""
        return self.engine.capabilities

    @property
    def data_folders(self) -> list[Path]:
        """The folders this project's channels may name on the engine (none when it reads S3)."""
        return self.engine.data_folders(self.project)

    @property
    def custom_images(self) -> list[str]:
        """The custom images offered: the engine's configured ones, or those found in ECR."""
        if self._images is None:
            self._images = []
            if self.ecr_enabled:
                if self.capabilities.custom_images == "configured":
                    self._images = list(self.capabilities.configured_images)
                else:
                    try:
                        self._images = ecr.list_images()
                    except ecr.EcrUnavailable as exc:
                        self.image_error = str(exc)
        return self._images

    def validation_context(self, name_taken: Callable[[str], bool] | None = None) -> spec.ValidationContext:
        """The validator's context for requests made in this project."""
        return spec.ValidationContext(
            engine=self.engine,
            project=self.project,
            region=self.region,
            instance_types=tuple(self.instance_types),
            ecr_enabled=self.ecr_enabled,
            ecr_allowed=tuple(self.ecr_allowed),
            warm_start_parents=tuple(name for name, _ in self.warm_start_parents),
            name_taken=name_taken,
        )


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a new job's name (taken in the portal or in the engine), or None."""
    if HpoJob.objects.filter(name__iexact=name).exists():
        return f"A job named {name} already exists in the portal (names ignore case); choose another name."
    backend = get_backend()
    try:
        free = backend.is_name_free(name)
    except BackendError as exc:
        return (f"Could not check with {backend.capabilities.display_name} whether this name is free ({exc}). "
                "Try again in a moment.")
    if not free:
        return f"A tuning job named {name} already exists in {backend.capabilities.display_name}; choose another name."
    return None


def _attach(form: forms.Form, problems: list[Problem]) -> None:
    """Put each problem next to its field, or at the top of the form when no field holds it."""
    for location, message in problems:
        name = location[1] if len(location) > 1 else None
        if name in form.fields:
            if name not in form.errors or message not in form.errors[name]:
                form.add_error(name, message)
        else:
            form.add_error(None, message)


def _integer(value: Any) -> str:
    return "" if value is None else str(value)


# ---- step 1: job settings ----------------------------------------------------------------------------
class JobSettingsForm(forms.Form):
    name = forms.CharField(
        label="Job name", max_length=32,
        help_text="1–32 letters, digits and hyphens; unique in the portal and the engine, ignoring case.",
        error_messages={"required": "Name the tuning job.",
                        "max_length": "A job name has at most 32 characters (it has %(show_value)d)."},
    )
    strategy = forms.ChoiceField(label="Strategy", choices=STRATEGY_CHOICES, initial="Bayesian", widget=forms.RadioSelect)
    early_stopping = forms.ChoiceField(
        label="Early stopping", choices=EARLY_STOPPING_CHOICES, initial="Off", widget=forms.RadioSelect,
        help_text="Auto needs an algorithm that reports its objective every epoch, and a single definition. "
        "Hyperband has its own early stopping: keep Off.",
    )
    hyperband_min_resource = forms.IntegerField(
        label="Hyperband min resource", required=False, min_value=1,
        help_text="Hyperband only: the fewest epochs a training job runs.",
    )
    hyperband_max_resource = forms.IntegerField(
        label="Hyperband max resource", required=False, min_value=1, max_value=20_000,
        help_text="Hyperband only: the most epochs a training job runs. Blank: read from a static "
        "epochs hyperparameter.",
    )
    warm_start_type = forms.ChoiceField(label="Warm start", choices=WARM_START_TYPE_CHOICES, required=False)
    warm_start_parents = forms.MultipleChoiceField(
        label="Parent tuning jobs", required=False, widget=forms.CheckboxSelectMultiple,
        help_text="1 to 5 finished (Completed, Stopped or Failed) tuning jobs of this project.",
        error_messages={"invalid_choice": "%(value)s is not a finished tuning job of this project."},
    )
    target_objective_value = forms.FloatField(
        label="Target objective value", required=False,
        help_text="Stop the tuning job once a training job reaches this objective value.",
    )
    max_jobs_not_improving = forms.IntegerField(
        label="Stop after this many training jobs without improvement", required=False, min_value=3,
        help_text="At least 3. A job improves when it beats the best by 1% or more.",
    )
    complete_on_convergence = forms.BooleanField(
        label="Complete on convergence", required=False,
        help_text="Stop when SageMaker detects that the objective has converged.",
    )
    autotune = forms.BooleanField(
        label="Autotune", required=False,
        help_text="SageMaker chooses the ranges of the hyperparameters you mark Auto (from the example value you "
        "give each), and the tuning settings you leave to it. A definition's other ranges stay as you set them.",
    )
    random_seed = forms.IntegerField(
        label="Random seed", required=False, min_value=0, max_value=2**31 - 1,
        help_text="Makes Random, Grid and Hyperband searches reproducible.",
    )
    tags = forms.CharField(
        label="Tags", required=False, widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text="One key=value per line. The portal adds hpo-portal:project and hpo-portal:created-by itself.",
    )

    def __init__(self, *args, options: WizardOptions, rules: Rules | None = None, check_name: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.options = options
        self.rules = rules
        self.check_name = check_name
        self.fields["warm_start_parents"].choices = options.warm_start_parents
        source = self.data if self.is_bound else self.initial
        chosen = source.get(self.add_prefix("autotune") if self.is_bound else "autotune")
        if not options.capabilities.autotune and not chosen:
            # Not offered on an engine that does not run it; an imported Autotune still shows, and is refused.
            del self.fields["autotune"]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not NAME_RE.fullmatch(name):
            raise ValidationError(
                "Use 1 to 32 letters, digits and hyphens, starting and ending with a letter or digit "
                "(no spaces, dots or underscores)."
            )
        if self.check_name:
            problem = name_problem(name)
            if problem:
                raise ValidationError(problem)
        return name

    def clean_tags(self) -> list[tuple[str, str]]:
        tags: list[tuple[str, str]] = []
        seen: set[str] = set()
        problems: list[str] = []  # every bad line, not only the first
        for number, line in enumerate(self.cleaned_data["tags"].splitlines(), start=1):
            if not line.strip():
                continue
            key, equals, value = line.partition("=")
            key, value = key.strip(), value.strip()
            if not equals or not key:
                problems.append(f"Line {number}: write each tag as key=value (got {line.strip()!r}).")
            elif key in convert.RESERVED_TAG_KEYS:
                problems.append(f"Line {number}: {key} is set by the portal; remove this line.")
            elif key in seen:
                problems.append(f"Line {number}: tag {key} is given twice.")
            else:
                seen.add(key)
                tags.append((key, value))
        if problems:
            raise ValidationError(problems)
        room = spec.MAX_TAGS - len(convert.RESERVED_TAG_KEYS)
        if len(tags) > room:
            raise ValidationError(
                f"At most {room} tags: SageMaker takes {spec.MAX_TAGS} and the portal adds its own "
                f"{len(convert.RESERVED_TAG_KEYS)} (project and creator) (got {len(tags)})."
            )
        return tags

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("strategy") and data["strategy"] != "Hyperband":
            # The Hyperband fields are shown for Hyperband only; values left in them do not apply.
            data["hyperband_min_resource"] = data["hyperband_max_resource"] = None
        parents = data.get("warm_start_parents") or []
        if "warm_start_parents" in data and "warm_start_type" in data:
            if parents and not data["warm_start_type"]:
                self.add_error("warm_start_type", "Choose how to warm start from the parent jobs you picked.")
            elif data["warm_start_type"] and not parents:
                self.add_error("warm_start_parents", "Pick 1 to 5 parent tuning jobs to warm start from.")
            elif len(parents) > MAX_WARM_START_PARENTS:
                self.add_error("warm_start_parents", f"Pick at most {MAX_WARM_START_PARENTS} parent jobs (got {len(parents)}).")
            elif parents and not self.options.capabilities.warm_start:
                self.add_error("warm_start_parents", f"{self.options.capabilities.display_name} cannot warm start "
                               "from earlier jobs; leave this empty.")
        if data.get("autotune") and not self.options.capabilities.autotune:
            self.add_error("autotune", f"{self.options.capabilities.display_name.capitalize()} does not run Autotune; "
                           "turn it off and choose the ranges yourself.")
        if self.rules is not None and not self.errors:
            _attach(self, self.rules(data))
        return data

    @classmethod
    def data_from_values(cls, values: dict[str, Any], prefix: str = "job") -> dict[str, list[str]]:
        """Form data (as posted) for the wizard values of this step."""
        data = {
            "name": [values.get("name") or ""],
            "strategy": [values.get("strategy") or "Bayesian"],
            "early_stopping": [values.get("early_stopping") or "Off"],
            "hyperband_min_resource": [_integer(values.get("hyperband_min_resource"))],
            "hyperband_max_resource": [_integer(values.get("hyperband_max_resource"))],
            "warm_start_type": [values.get("warm_start_type") or ""],
            "warm_start_parents": [str(p) for p in values.get("warm_start_parents") or []],
            "target_objective_value": [_integer(values.get("target_objective_value"))],
            "max_jobs_not_improving": [_integer(values.get("max_jobs_not_improving"))],
            "random_seed": [_integer(values.get("random_seed"))],
            "tags": ["\n".join(f"{k}={v}" for k, v in values.get("tags") or [])],
        }
        if values.get("complete_on_convergence"):
            data["complete_on_convergence"] = ["on"]
        if values.get("autotune"):
            data["autotune"] = ["on"]
        return {f"{prefix}-{key}": value for key, value in data.items()}


# ---- step 3: tuning resources ------------------------------------------------------------------------
class TuningResourcesForm(forms.Form):
    max_parallel = forms.IntegerField(
        label="Max parallel training jobs", min_value=1, initial=2,
        help_text="How many training jobs run at once (SageMaker's default quota is 10). Bayesian search "
        "learns more from fewer parallel jobs.",
    )
    max_jobs = forms.IntegerField(
        label="Max training jobs", min_value=1, required=False, initial=10,
        help_text="The budget: how many training jobs to run in all. Grid: leave blank to run every "
        "combination, or give exactly their number.",
    )
    max_runtime = forms.IntegerField(
        label="Max tuning runtime (seconds)", min_value=spec.MIN_TUNING_RUNTIME_S, max_value=spec.MAX_TUNING_RUNTIME_S,
        required=False,
        error_messages={"min_value": "A tuning job's runtime limit must be at least %(limit_value)s seconds",
                        "max_value": "A tuning job can run at most %(limit_value)s seconds (182.5 days)"},
        help_text="Stop the tuning job after this long: 120 to 15,768,000 seconds (182.5 days), SageMaker's limits. "
        "Blank: no limit of its own.",
    )

    def __init__(self, *args, rules: Rules | None = None, strategy: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.rules = rules
        self.strategy = strategy

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.rules is not None and not self.errors:
            _attach(self, self.rules(data))
        return data

    @classmethod
    def data_from_values(cls, values: dict[str, Any], prefix: str = "resources") -> dict[str, list[str]]:
        """Form data (as posted) for the wizard values of this step."""
        return {
            f"{prefix}-max_parallel": [_integer(values.get("max_parallel"))],
            f"{prefix}-max_jobs": [_integer(values.get("max_jobs"))],
            f"{prefix}-max_runtime": [_integer(values.get("max_runtime"))],
        }


# ---- step 4: review ------------------------------------------------------------------------------------
class ReviewForm(forms.Form):
    """No fields: its clean checks the whole request, so that no problem reaches ``done()``."""

    def __init__(self, *args, check: Callable[[], list[str]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.check = check

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.check is not None:
            problems = self.check()
            if problems:
                raise ValidationError(
                    "The job cannot be created yet: fix the problems listed below "
                    f"({len(problems)} in all), then submit again."
                )
        return data


# ---- step 2: training job definitions ----------------------------------------------------------------
DEFINITION_FIELDS = (
    "name", "algorithm_source", "algorithm", "image", "loaded_algorithm", "objective_metric", "objective_type",
    "input_mode", "output_path", "instance_type", "instance_count", "volume_size", "max_runtime", "use_spot",
    "max_wait", "network_isolation", "inter_container_encryption", "algorithm_version",
    "output_compression", "output_kms", "volume_kms", "max_pending", "checkpoint_uri", "checkpoint_local_path",
    "max_retries", "resource_kind",
)
TABLES = {
    # table name in drafts and values: (formset prefix under "def", row fields)
    "hyperparameters": ("hp", ("name", "kind", "value", "min", "max", "scaling", "values", "builtin")),
    "channels": ("ch", ("name", "uri", "s3_data_type", "content_type", "compression", "distribution",
                        "record_wrapper", "input_mode", "shuffle_seed", "attribute_names", "data_source",
                        "file_system_id", "file_system_type", "file_system_access_mode")),
    "metric_definitions": ("md", ("name", "regex")),
    "environment": ("env", ("name", "value")),
    "instance_configs": ("ic", ("instance_type", "instance_count", "volume_size")),
}
EDITOR_PREFIX = "def"
BOOLEAN_FIELDS = ("use_spot", "network_isolation", "inter_container_encryption")


def _text(value: Any, limit: int = 5000) -> str:
    return value[:limit] if isinstance(value, str) else ""


def normalize_draft(raw: Any) -> dict[str, Any]:
    """A draft read from untrusted JSON: known keys only, strings only, bounded lengths."""
    raw = raw if isinstance(raw, dict) else {}
    fields = raw.get("fields") if isinstance(raw.get("fields"), dict) else {}
    draft: dict[str, Any] = {"fields": {name: _text(fields.get(name)) for name in DEFINITION_FIELDS}}
    for table, (_, row_fields) in TABLES.items():
        rows = raw.get(table) if isinstance(raw.get(table), list) else []
        draft[table] = [
            {name: _text(row.get(name)) for name in row_fields}
            for row in rows[:ABSOLUTE_MAX_ROWS] if isinstance(row, dict)
        ]
    return draft


def flatten(draft: dict[str, Any], prefix: str = EDITOR_PREFIX) -> dict[str, str]:
    """The form data an editor posts for ``draft``."""
    data = {f"{prefix}-{name}": value for name, value in draft["fields"].items()
            if not (name in BOOLEAN_FIELDS and not value)}
    for table, (short, row_fields) in TABLES.items():
        rows = draft[table]
        data[f"{prefix}-{short}-TOTAL_FORMS"] = str(len(rows))
        data[f"{prefix}-{short}-INITIAL_FORMS"] = str(len(rows))
        for index, row in enumerate(rows):
            for name in row_fields:
                data[f"{prefix}-{short}-{index}-{name}"] = row.get(name, "")
    return data


def unflatten(data, prefix: str = EDITOR_PREFIX) -> dict[str, Any]:
    """The draft an editor's posted form data holds (nothing validated: kept as typed)."""
    fields = {name: _text(data.get(f"{prefix}-{name}")) for name in DEFINITION_FIELDS}
    for name in BOOLEAN_FIELDS:
        fields[name] = "on" if data.get(f"{prefix}-{name}") not in (None, "", "false", "False", "off") else ""
    draft: dict[str, Any] = {"fields": fields}
    for table, (short, row_fields) in TABLES.items():
        try:
            total = int(data.get(f"{prefix}-{short}-TOTAL_FORMS") or 0)
        except (TypeError, ValueError):
            total = 0
        draft[table] = [
            {name: _text(data.get(f"{prefix}-{short}-{index}-{name}")) for name in row_fields}
            for index in range(max(0, min(total, ABSOLUTE_MAX_ROWS)))
        ]
    return draft


def format_values(values: list[str]) -> str:
    """Categorical values as one line of text: comma-separated, a value holding a comma or quote in quotes."""
    if not any("," in value or '"' in value for value in values):
        return ", ".join(values)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(values)
    return buffer.getvalue()


def parse_values(text: str) -> list[str] | None:
    """The categorical values written in ``text`` (see format_values); None when the quoting is broken."""
    try:
        rows = list(csv.reader([text], skipinitialspace=True, strict=True))
    except csv.Error:
        return None
    return [item.strip() for item in rows[0]] if rows else []


def _number_text(value: float | None) -> str:
    return "" if value is None else catalogue.format_number(value)


def builtin_rows(algorithm: catalogue.Algorithm) -> list[dict[str, str]]:
    """The hyperparameter table of a built-in: every hyperparameter, in its initial type, with suggested ranges."""
    rows = []
    for hp in algorithm.hyperparameters:
        kind = hp.initial_type
        row = {"name": hp.name, "kind": kind, "value": "", "min": "", "max": "", "scaling": "Auto", "values": "",
               "builtin": "1"}
        low, high = hp.suggested_min, hp.suggested_max
        if (low, high) == (None, None) and not (hp.min_exclusive or hp.max_exclusive) \
                and hp.scaling in ("Auto", "Linear"):
            # The guide's range is the bounds themselves (Random Cut Forest's num_trees: 50 to 1000).
            low, high = hp.min_value, hp.max_value
        if hp.name in algorithm.default_static_values:
            row.update(kind="Static", value=algorithm.default_static_values[hp.name])
        elif kind in ("Integer", "Continuous") and (low is None or high is None) \
                and "Static" in hp.allowed_types and not hp.required:
            # No range to start from: left at the algorithm's default until the person tunes it.
            row["kind"] = "Static"
        elif kind in ("Integer", "Continuous"):
            row.update(min=_number_text(low), max=_number_text(high), scaling=hp.scaling or "Auto")
        elif kind == "Categorical":
            row["values"] = format_values(list(hp.initial_values or hp.options))
        elif hp.required and hp.default is not None:
            row["value"] = hp.default
        rows.append(row)
    return rows


def _builtin_image(algorithm: catalogue.Algorithm, region: str, version: str | None = None) -> str:
    try:
        return algorithm.image_uri(region, version)
    except catalogue.UnknownRegionError:
        return ""


def default_channels(options: WizardOptions) -> list[dict[str, str]]:
    """The channels a new definition starts with: train and validation (the demo's data when the project's
    data folders hold it)."""
    rows = []
    folders = options.data_folders
    for name in ("train", "validation"):
        uri = ""
        for folder in folders:
            demo = next((d for d in (folder / "breast-cancer" / name, folder / "demo" / "breast-cancer" / name)
                         if d.is_dir()), None)
            if demo is not None:
                uri = demo.as_uri() + "/"
                break
        rows.append({"name": name, "uri": uri, "s3_data_type": "S3Prefix", "content_type": "text/csv",
                     "compression": "None", "distribution": "", "record_wrapper": "None", "input_mode": ""})
    return rows


def new_draft(options: WizardOptions, name: str) -> dict[str, Any]:
    """A new definition: the first built-in the engine can run, with its defaults."""
    algorithm = next(
        (a for a in catalogue.ALGORITHMS.values() if options.capabilities.runs_builtin(a)),
        next(iter(catalogue.ALGORITHMS.values())),
    )
    draft = {
        "fields": {
            "name": name, "algorithm_source": "builtin", "algorithm": algorithm.key, "image": "",
            "loaded_algorithm": "", "objective_metric": "", "objective_type": "Maximize", "input_mode": "File",
            "output_path": convert.default_output_path(options.project),
            "instance_type": options.instance_types[0] if options.instance_types else "",
            "instance_count": "1", "volume_size": "30", "max_runtime": "3600", "use_spot": "", "max_wait": "",
            "network_isolation": "", "inter_container_encryption": "", "algorithm_version": "",
            "output_compression": "GZIP", "output_kms": "", "volume_kms": "", "max_pending": "",
            "checkpoint_uri": "", "checkpoint_local_path": "", "max_retries": "", "resource_kind": "single",
        },
        "hyperparameters": [],
        "channels": default_channels(options),
        "metric_definitions": [],
        "environment": [],
        "instance_configs": [],
    }
    load_algorithm_defaults(draft, options)
    return draft


def load_algorithm_defaults(draft: dict[str, Any], options: WizardOptions) -> str | None:
    """Fill a draft's table, objective and image from its algorithm's catalogue entry; a notice saying what changed."""
    fields = draft["fields"]
    if fields["algorithm_source"] == "custom":
        if fields["loaded_algorithm"]:
            # From a built-in to a custom image: the built-in's table, image and metric belong to it.
            try:
                previous = catalogue.get(fields["loaded_algorithm"])
            except KeyError:
                previous = None
            draft["hyperparameters"] = []
            if catalogue.algorithm_for_image(fields["image"]) is not None:
                fields["image"] = ""
            if previous is not None and previous.objective_metric(fields["objective_metric"]) is not None:
                fields["objective_metric"] = ""
            fields["loaded_algorithm"] = ""
            if not draft["metric_definitions"]:
                draft["metric_definitions"] = [{"name": "", "regex": ""}]
            return ("Custom image: give its URI, the metrics it prints (a name and a regex each) and the "
                    "hyperparameters to set or tune.")
        return None
    try:
        algorithm = catalogue.get(fields["algorithm"])
    except KeyError:
        return None
    fields["loaded_algorithm"] = algorithm.key
    fields["image"] = _builtin_image(algorithm, options.region)
    fields["algorithm_version"] = algorithm.default_version if len(algorithm.versions) > 1 else ""
    fields["objective_metric"] = algorithm.default_objective.name
    fields["objective_type"] = algorithm.default_objective.direction
    fields["input_mode"] = algorithm.default_input_mode
    if algorithm.default_instance_type in options.instance_types:
        fields["instance_type"] = algorithm.default_instance_type  # it trains on GPUs only
    draft["hyperparameters"] = builtin_rows(algorithm)
    draft["metric_definitions"] = []
    _name_evaluation_channel(draft["channels"], algorithm.default_objective.name)
    _fit_channels(draft["channels"], algorithm)
    return f"{algorithm.display_name}'s hyperparameters, objective metric, input mode and channels loaded."


def _fit_channels(channels: list[dict[str, str]], algorithm: catalogue.Algorithm) -> None:
    """Give each channel a content type the algorithm reads, and add the channels it requires."""
    names = [c.get("name") for c in channels]
    for spec in algorithm.required_channels:
        if spec.name not in names:
            channels.append({"name": spec.name, "uri": "", "s3_data_type": "S3Prefix", "content_type": "",
                             "compression": "None", "distribution": "", "record_wrapper": "None", "input_mode": ""})
    for row in channels:
        spec = algorithm.channel(row.get("name") or "")
        if spec is not None and row.get("content_type") not in spec.content_types:
            row["content_type"] = spec.default_content_type


def _name_evaluation_channel(channels: list[dict[str, str]], metric: str) -> None:
    """Rename the evaluation channel after the objective's prefix: k-NN reports test:…, XGBoost validation:…."""
    wanted = metric.split(":", 1)[0]
    other = {"validation": "test", "test": "validation"}.get(wanted)
    names = [c.get("name") for c in channels]
    if other and wanted not in names and names.count(other) == 1:
        channels[names.index(other)]["name"] = wanted


def draft_from_values(values: dict[str, Any], options: WizardOptions) -> dict[str, Any]:
    """A draft holding a definition's wizard values (from an imported request or a job to clone)."""
    source = values.get("algorithm_source") or "builtin"
    fields = {
        "name": values.get("name") or "",
        "algorithm_source": source,
        "algorithm": values.get("algorithm") or "",
        "image": values.get("image") or "",
        "loaded_algorithm": (values.get("algorithm") or "") if source == "builtin" else "",
        "objective_metric": values.get("objective_metric") or "",
        "objective_type": values.get("objective_type") or "Maximize",
        "input_mode": values.get("input_mode") or "File",
        "output_path": values.get("output_path") or "",
        "instance_type": values.get("instance_type") or "",
        "instance_count": _integer(values.get("instance_count")),
        "volume_size": _integer(values.get("volume_size")),
        "max_runtime": _integer(values.get("max_runtime")),
        "use_spot": "on" if values.get("use_spot") else "",
        "max_wait": _integer(values.get("max_wait")),
        "network_isolation": "on" if values.get("network_isolation") else "",
        "inter_container_encryption": "on" if values.get("inter_container_encryption") else "",
        "algorithm_version": "",
        "output_compression": values.get("output_compression") or "GZIP",
        "output_kms": values.get("output_kms") or "",
        "volume_kms": values.get("volume_kms") or "",
        "max_pending": _integer(values.get("max_pending")),
        "checkpoint_uri": values.get("checkpoint_uri") or "",
        "checkpoint_local_path": values.get("checkpoint_local_path") or "",
        "max_retries": _integer(values.get("max_retries")),
        "resource_kind": values.get("resource_kind") or "single",
    }
    if source == "builtin" and fields["algorithm"] in catalogue.ALGORITHMS:
        algorithm = catalogue.get(fields["algorithm"])
        if len(algorithm.versions) > 1:
            fields["algorithm_version"] = algorithm.version_of_image(fields["image"]) or ""

    def row_of(hp: dict[str, Any], builtin: bool) -> dict[str, str]:
        return {
            "name": hp.get("name") or "", "kind": hp.get("kind") or "Static",
            "value": "" if hp.get("value") is None else str(hp["value"]),
            "min": _text(hp.get("min")), "max": _text(hp.get("max")), "scaling": hp.get("scaling") or "Auto",
            "values": format_values(list(hp.get("values") or [])), "builtin": "1" if builtin else "",
        }

    given = {hp.get("name"): hp for hp in values.get("hyperparameters") or []}
    rows: list[dict[str, str]] = []
    if source == "builtin" and fields["algorithm"] in catalogue.ALGORITHMS:
        algorithm = catalogue.get(fields["algorithm"])
        for spec_row in builtin_rows(algorithm):
            hp = given.pop(spec_row["name"], None)
            if hp is None:
                # Not in the request: left at the algorithm's own default.
                rows.append({**spec_row, "kind": "Static", "value": "", "min": "", "max": "", "values": ""})
            else:
                rows.append(row_of(hp, builtin=True))
    rows.extend(row_of(hp, builtin=False) for hp in given.values())
    return {
        "fields": fields,
        "hyperparameters": rows,
        "channels": [
            {"name": c.get("name") or "", "uri": c.get("uri") or "", "s3_data_type": c.get("s3_data_type") or "S3Prefix",
             "content_type": c.get("content_type") or "", "compression": c.get("compression") or "None",
             "distribution": c.get("distribution") or "", "record_wrapper": c.get("record_wrapper") or "None",
             "input_mode": c.get("input_mode") or "", "shuffle_seed": _integer(c.get("shuffle_seed")),
             "attribute_names": format_values(list(c.get("attribute_names") or [])),
             "data_source": c.get("data_source") or "S3DataSource", "file_system_id": c.get("file_system_id") or "",
             "file_system_type": c.get("file_system_type") or "", "file_system_access_mode":
                 c.get("file_system_access_mode") or ""}
            for c in values.get("channels") or []
        ],
        "instance_configs": [
            {"instance_type": c.get("instance_type") or "", "instance_count": _integer(c.get("instance_count")),
             "volume_size": _integer(c.get("volume_size"))}
            for c in values.get("instance_configs") or []
        ],
        "metric_definitions": [
            {"name": m.get("name") or "", "regex": m.get("regex") or ""} for m in values.get("metric_definitions") or []
        ],
        "environment": [
            {"name": _text(e.get("name")), "value": _text(e.get("value"))} for e in values.get("environment") or []
        ],
    }


class DefinitionForm(forms.Form):
    """The scalar settings of one training job definition."""

    name = forms.CharField(label="Definition name", max_length=64,
                           help_text="1–64 letters, digits and hyphens; unique within the job.",
                           error_messages={"required": "Name this definition, e.g. xgb-1."})
    algorithm_source = forms.ChoiceField(label="Algorithm source", choices=SOURCE_CHOICES, widget=forms.RadioSelect)
    algorithm = forms.ChoiceField(label="Built-in algorithm", choices=catalogue.choices(), required=False)
    image = forms.CharField(label="Image URI", max_length=255, required=False)
    loaded_algorithm = forms.CharField(required=False, widget=forms.HiddenInput)
    objective_metric = forms.CharField(label="Objective metric", max_length=255,
                                       error_messages={"required": "Choose the metric to tune towards."})
    objective_type = forms.ChoiceField(label="Direction", choices=DIRECTION_CHOICES)
    input_mode = forms.ChoiceField(label="Input mode", choices=INPUT_MODE_CHOICES)
    output_path = forms.CharField(label="Output path", max_length=1024,
                                  help_text="Where models are written: s3://bucket/prefix/.",
                                  error_messages={"required": "Enter where the models go, e.g. s3://bucket/prefix/."})
    resource_kind = forms.ChoiceField(
        label="Instances", choices=RESOURCE_KIND_CHOICES, required=False, widget=forms.RadioSelect,
        help_text="An instance pool lists up to 6 instance types with their count and volume; SageMaker uses "
        "the first it has capacity for, then the next (HyperParameterTuningResourceConfig).",
    )
    # Required for one instance type (see clean); a pool sets them per configuration.
    instance_type = forms.ChoiceField(
        label="Instance type", required=False,
        error_messages={"invalid_choice": "Instance type %(value)s is not offered on this portal; choose one of the list."},
    )
    instance_count = forms.IntegerField(label="Instance count", min_value=1, max_value=100, required=False)
    volume_size = forms.IntegerField(label="Volume size (GB)", min_value=1, max_value=16384, required=False)
    max_runtime = forms.IntegerField(label="Max runtime per training job (seconds)", min_value=1,
                                     help_text="At most 28 days (2419200 seconds).")
    use_spot = forms.BooleanField(label="Managed spot training", required=False,
                                  help_text="Cheaper spare capacity that may be interrupted.")
    max_wait = forms.IntegerField(label="Max wait for spot capacity (seconds)", required=False, min_value=1,
                                  help_text="Spot only: at least the max runtime.")
    network_isolation = forms.BooleanField(label="Network isolation", required=False,
                                           help_text="The training container gets no network access.")
    inter_container_encryption = forms.BooleanField(label="Encrypt traffic between instances", required=False)
    output_compression = forms.ChoiceField(label="Output compression", required=False, choices=[
        ("GZIP", "Gzip (SageMaker's default)"), ("NONE", "None")],
        help_text="How the model artifacts are written to the output path.")
    output_kms = forms.CharField(label="Output KMS key", max_length=2048, required=False,
                                 help_text="Optional: the KMS key (ID, ARN or alias) that encrypts the model artifacts.")
    volume_kms = forms.CharField(label="Volume KMS key", max_length=2048, required=False,
                                 help_text="Optional: the KMS key that encrypts the training instances' storage volumes.")
    max_pending = forms.IntegerField(label="Max pending time (seconds)", required=False,
                                     help_text="Optional: how long a training job may wait for capacity before it "
                                               "is stopped, 1800 to 2419200 seconds (28 days).")
    checkpoint_uri = forms.CharField(label="Checkpoint S3 URI", max_length=1024, required=False,
                                     help_text="Optional: where training saves checkpoints, so that an interrupted "
                                               "spot training job resumes from them: s3://bucket/prefix/.")
    checkpoint_local_path = forms.CharField(label="Checkpoint local path", max_length=4096, required=False,
                                            help_text="Optional: the folder in the container the checkpoints are "
                                                      "written to (SageMaker's default /opt/ml/checkpoints/).")
    max_retries = forms.IntegerField(label="Retries on internal errors", required=False,
                                     help_text="Optional: how many times SageMaker retries a training job that "
                                               "fails with an internal server error, 1 to 30.")
    # Choosing a version sets the image (which is what the request keeps).
    # Not a ChoiceField: a version left over from another algorithm is ignored, never an error.
    algorithm_version = forms.CharField(label="Version", required=False, max_length=64, widget=forms.Select(),
                                        help_text="The algorithm's image version; the current one is preselected.")

    def __init__(self, *args, options: WizardOptions, **kwargs):
        super().__init__(*args, **kwargs)
        self.options = options
        if not options.ecr_enabled and self._raw("algorithm_source") != "custom":
            # Custom images are off: the choice is not offered (an imported one still shows, and is refused).
            self.fields["algorithm_source"].choices = SOURCE_CHOICES[:1]
        types = list(options.instance_types)
        current = self._raw("instance_type")
        self.fields["instance_type"].choices = [(t, t) for t in types]
        if current and current not in types:
            self.fields["instance_type"].choices.append((current, f"{current} (not offered)"))
            self.not_offered_instance_type = current
        caps = options.capabilities
        _offer(self, "algorithm", ("", *(a.key for a in catalogue.ALGORITHMS.values() if caps.runs_builtin(a))),
               caps.display_name)
        _offer(self, "input_mode", caps.custom_image_input_modes if self._raw("algorithm_source") == "custom"
               else caps.input_modes, caps.display_name)
        self.fields["image"].widget.attrs.update({"list": "custom-images", "spellcheck": "false"})
        self.fields["output_path"].widget.attrs["spellcheck"] = "false"
        for name in ("output_kms", "volume_kms", "checkpoint_uri", "checkpoint_local_path"):
            self.fields[name].widget.attrs["spellcheck"] = "false"
        # Settings the engine does not run are not offered; a value from an import or a clone still
        # shows, and the engine's check refuses it next to its field.
        if not caps.instance_pools and self._raw("resource_kind") != "pool":
            del self.fields["resource_kind"]
        for names, offered in ((("output_kms", "volume_kms"), caps.kms_keys),
                               (("checkpoint_uri", "checkpoint_local_path"), caps.checkpoints),
                               (("max_retries",), caps.retry_strategy),
                               (("max_pending",), caps.max_pending_time)):
            if not offered and not any(self._raw(name) for name in names):
                for name in names:
                    del self.fields[name]
        if not options.capabilities.writes_output_path:
            self.fields["output_path"].help_text = (
                f"{options.capabilities.display_name.capitalize()} keeps each training job's model in its own "
                "folder and writes nothing here; the path is kept in the request (an s3:// URI, as SageMaker wants)."
            )
        algorithm = self.chosen_algorithm
        if self._raw("algorithm_source") != "custom" and algorithm is not None:
            choices = [(m.name, f"{m.name} ({m.direction})") for m in algorithm.objective_metrics]
            metric = self._raw("objective_metric")
            if metric and algorithm.objective_metric(metric) is None:
                choices.append((metric, f"{metric} (not a metric of {algorithm.display_name})"))
            self.fields["objective_metric"].widget = forms.Select(choices=choices)
        if self._raw("algorithm_source") != "custom" and algorithm is not None and len(algorithm.versions) > 1:
            current = algorithm.default_version
            self.fields["algorithm_version"].widget.choices = [
                (v, f"{v} (current)" if v == current else v) for v in sorted(algorithm.versions, reverse=True,
                                                                              key=catalogue.version_key)]
            self.fields["algorithm_version"].initial = algorithm.version_of_image(self._raw("image")) or current

    def _raw(self, name: str) -> str:
        source = self.data if self.is_bound else self.initial
        value = source.get(self.add_prefix(name) if self.is_bound else name)
        return value if isinstance(value, str) else ""

    @property
    def chosen_algorithm(self) -> catalogue.Algorithm | None:
        try:
            return catalogue.get(self._raw("algorithm"))
        except KeyError:
            return None

    @property
    def is_custom(self) -> bool:
        return self._raw("algorithm_source") == "custom"

    @property
    def is_pool(self) -> bool:
        return self._raw("resource_kind") == "pool"

    def clean_name(self) -> str:
        # Checked here, not only in the request: a lone definition goes out without its name
        # (TrainingJobDefinition), and the name is sent as soon as a second definition is added.
        name = self.cleaned_data["name"]
        if not DEFINITION_NAME_RE.fullmatch(name):
            raise ValidationError(f"Definition name {name!r} may contain only letters, digits and hyphens, and "
                                  "must start and end with a letter or digit.")
        return name

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        data["resource_kind"] = data.get("resource_kind") or "single"
        if data["resource_kind"] == "pool":
            # The pool's rows hold the instances; the one-type fields are kept in the draft, not sent.
            for name in ("instance_type", "instance_count", "volume_size"):
                self.errors.pop(name, None)
            self.not_offered_instance_type = None
            if not self.options.capabilities.instance_pools:
                self.add_error("resource_kind", f"{self.options.capabilities.display_name.capitalize()} runs one "
                               "instance type, not an instance pool; choose one instance type.")
        else:
            for name, message in (("instance_type", "Choose an instance type."),
                                  ("instance_count", "Enter how many instances each training job runs on."),
                                  ("volume_size", "Enter the size of each instance's storage volume.")):
                if data.get(name) in (None, "") and name not in self.errors:
                    self.add_error(name, message)
        if getattr(self, "not_offered_instance_type", None) and "instance_type" not in self.errors:
            self.add_error("instance_type", f"Instance type {self.not_offered_instance_type} is not offered on this "
                           "portal; choose one of the list.")
        source = data.get("algorithm_source")
        if source == "builtin":
            algorithm = self.chosen_algorithm
            if algorithm is None:
                self.add_error("algorithm", "Choose a built-in algorithm.")
            else:
                image = data.get("image") or ""
                found = catalogue.algorithm_for_image(image) if image else None
                if found is None or found.key != algorithm.key:
                    # The catalogue's image, unless the draft holds another version of the same algorithm.
                    image = _builtin_image(algorithm, self.options.region)
                version = data.get("algorithm_version")
                if version in algorithm.versions and algorithm.version_of_image(image) != version:
                    image = _builtin_image(algorithm, self.options.region, version)
                if not image:
                    self.add_error("algorithm", f"{algorithm.display_name} has no image in region {self.options.region}.")
                data["image"] = image
                known = algorithm.objective_metric(data.get("objective_metric") or "")
                if known is not None:
                    # A built-in metric's direction is a fact of the metric, not a choice (its field is
                    # hidden, so whatever a page posted there is replaced rather than shown as an error).
                    self.errors.pop("objective_type", None)
                    data["objective_type"] = known.direction
        elif source == "custom":
            data["algorithm"] = ""
            if not data.get("image"):
                self.add_error("image", "Enter the image URI of the custom algorithm (registry/repository:tag).")
        data["output_compression"] = data.get("output_compression") or "GZIP"  # a draft from before the field
        if data.get("checkpoint_local_path") and not data.get("checkpoint_uri") and "checkpoint_uri" not in self.errors:
            self.add_error("checkpoint_uri", "A checkpoint local path needs the S3 URI the checkpoints are copied "
                           "to; give one, or clear the local path.")
        if data.get("use_spot"):
            if data.get("max_wait") is None and "max_wait" not in self.errors:
                self.add_error("max_wait", "Spot training needs the longest time to wait for capacity, at least the max runtime.")
        else:
            data["max_wait"] = None  # only for spot training, where the field is shown
        return data


class HyperparameterForm(forms.Form):
    """One row of the hyperparameter table: static, or a range with its scaling."""

    name = forms.CharField(label="Name", max_length=256, required=False)
    kind = forms.ChoiceField(label="Type", choices=KIND_CHOICES)
    value = forms.CharField(label="Value", max_length=2500, required=False)
    min = forms.CharField(label="Min", max_length=256, required=False)
    max = forms.CharField(label="Max", max_length=256, required=False)
    scaling = forms.ChoiceField(label="Scaling", choices=SCALING_CHOICES, required=False)
    values = forms.CharField(label="Values", max_length=8000, required=False,
                             help_text='Categorical: the values to try, separated by commas ("a,b" for a value with a comma).')
    builtin = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, algorithm: catalogue.Algorithm | None = None, autotune: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        kind_now = self.data.get(self.add_prefix("kind")) if self.is_bound else self.initial.get("kind")
        # Auto (Autotune chooses the range) where the engine runs Autotune; an imported Auto row still shows.
        self.auto_offered = autotune or kind_now == AUTO_KIND
        if self.auto_offered:
            self.fields["kind"].choices = [*KIND_CHOICES, (AUTO_KIND, AUTO_KIND)]
        raw = self.data.get(self.add_prefix("name")) if self.is_bound else self.initial.get("name")
        builtin = (self.data.get(self.add_prefix("builtin")) if self.is_bound else self.initial.get("builtin")) == "1"
        self.spec = algorithm.hyperparameter(raw) if (algorithm is not None and builtin and isinstance(raw, str)) else None
        if self.spec is not None:
            self.fields["name"].widget = forms.HiddenInput()
            # tunable_as() adds Categorical for numeric parameters: Grid search takes lists of values only.
            allowed = list(dict.fromkeys([*self.spec.allowed_types, *self.spec.tunable_as()]))
            if "Static" not in allowed:
                allowed.append("Static")  # "not set": left at the algorithm's default
            kinds = (*catalogue.PARAMETER_TYPES, AUTO_KIND) if self.auto_offered else catalogue.PARAMETER_TYPES
            if self.auto_offered and self.spec.tunable_as():
                allowed.append(AUTO_KIND)  # Autotune chooses the range of a tunable hyperparameter
            self.fields["kind"].choices = [(k, k) for k in kinds if k in allowed]
            offered = [k for k in kinds if k in allowed]
            self.fields["kind"].error_messages["invalid_choice"] = (
                f"{self.spec.name} can be {', '.join(offered[:-1])} or {offered[-1]}." if len(offered) > 1
                else f"{self.spec.name} can only be {offered[0]}."
            )
            if self.spec.value_type == "options" and not self.spec.multiple:
                # An enumerated hyperparameter is a choice: nothing else can be typed and fail every job.
                # A value from elsewhere (an import) stays offered, so that it is seen, never dropped.
                current = (self.data.get(self.add_prefix("value")) if self.is_bound else self.initial.get("value")) or ""
                blank = f"default ({self.spec.default})" if self.spec.default is not None else "not set"
                choices = [("", blank), *((o, o) for o in self.spec.options)]
                if isinstance(current, str) and current and current not in self.spec.options:
                    choices.append((current, current))
                self.fields["value"].widget = forms.Select(choices=choices)
            elif self.spec.default is not None:
                self.fields["value"].widget.attrs["placeholder"] = f"default {self.spec.default}"
            if self.spec.suggested_min is not None:
                self.fields["min"].widget.attrs["placeholder"] = _number_text(self.spec.suggested_min)
            if self.spec.suggested_max is not None:
                self.fields["max"].widget.attrs["placeholder"] = _number_text(self.spec.suggested_max)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        name = data.get("name") or ""
        kind = data.get("kind")
        if not name:
            self.add_error("name", "Enter the hyperparameter's name, or remove the row.")
        if kind == "Static":
            value = data.get("value") or ""
            if not value:
                if self.spec is None:
                    self.add_error("value", "Enter a value, or remove the row.")
                elif self.spec.required and self.spec.default is None:
                    self.add_error("value", f"{name} is required: give it a value, or tune it as a range.")
            data["value"] = value or None  # None: a built-in's hyperparameter left at its default
        elif kind == AUTO_KIND:
            if not data.get("value"):
                self.add_error("value", "Give an example value (SageMaker's ValueHint): Autotune chooses the range "
                               "around it.")
        elif kind in ("Integer", "Continuous"):
            # A blank end is an error next to it, never a range silently dropped.
            if not data.get("min"):
                self.add_error("min", "Enter the lowest value of the range.")
            if not data.get("max"):
                self.add_error("max", "Enter the highest value of the range.")
            data["scaling"] = data.get("scaling") or "Auto"
        elif kind == "Categorical":
            text = data.get("values") or ""
            items = parse_values(text)
            if not text.strip():
                self.add_error("values", "Enter the values to try, separated by commas.")
            elif items is None:
                self.add_error("values", 'A quote is not closed: write a value holding a comma as "a,b".')
            elif any(not item for item in items):
                self.add_error("values", "A value between commas is empty; remove the extra comma.")
            data["values"] = [item for item in items or [] if item]
        if kind != "Categorical":
            data["values"] = []
        return data

    @property
    def hint(self) -> str:
        """What the catalogue says of a built-in's hyperparameter: meaning, default, bounds, suggested range."""
        hp = self.spec
        if hp is None:
            return ""
        parts = [hp.description]
        if hp.default is not None:
            parts.append(f"Default {hp.default}.")
        if hp.options and hp.value_type == "options" and hp.multiple:
            parts.append(f"One of {', '.join(hp.options)}.")  # the others are a <select> of these
        elif hp.is_numeric and (hp.min_value is not None or hp.max_value is not None):
            parts.append(f"{'Whole number ' if hp.is_integer else 'Number '}{hp.bounds_text()}.")
        if hp.suggested_min is not None and hp.suggested_max is not None:
            parts.append(f"Suggested range {_number_text(hp.suggested_min)}–{_number_text(hp.suggested_max)}.")
        types = [t for t in catalogue.PARAMETER_TYPES if t in {*hp.allowed_types, *hp.tunable_as()}]
        parts.append(f"Types: {', '.join(types)}.")
        return " ".join(parts)


class ChannelForm(forms.Form):
    """One input channel of a definition."""

    name = forms.CharField(label="Channel", max_length=64, error_messages={"required": "Name the channel, e.g. train."})
    uri = forms.CharField(label="Data location", max_length=1024,
                          error_messages={"required": "Enter where this channel's data is."})
    s3_data_type = forms.ChoiceField(label="Data type", choices=[(c, c) for c in ("S3Prefix", "ManifestFile", "AugmentedManifestFile")])
    content_type = forms.CharField(label="Content type", max_length=256, required=False)
    compression = forms.ChoiceField(label="Compression", choices=[("None", "None"), ("Gzip", "Gzip")])
    distribution = forms.ChoiceField(label="Distribution", required=False, choices=[
        ("", "Default"), ("FullyReplicated", "FullyReplicated"), ("ShardedByS3Key", "ShardedByS3Key")])
    record_wrapper = forms.ChoiceField(label="Record wrapper", choices=[("None", "None"), ("RecordIO", "RecordIO")])
    input_mode = forms.ChoiceField(label="Input mode", required=False, choices=[("", "Definition's")] + INPUT_MODE_CHOICES)
    shuffle_seed = forms.IntegerField(label="Shuffle seed", required=False,
                                      widget=forms.NumberInput(attrs={"placeholder": "shuffle seed"}))
    attribute_names = forms.CharField(label="Attribute names", required=False, max_length=5000,
                                      widget=forms.TextInput(attrs={"placeholder": "attributes (augmented manifest)"}))
    data_source = forms.ChoiceField(label="Data source", required=False, choices=DATA_SOURCE_CHOICES)
    file_system_id = forms.CharField(label="File system ID", required=False, max_length=64,
                                     widget=forms.TextInput(attrs={"placeholder": "fs-… (file system)",
                                                                   "spellcheck": "false"}))
    file_system_type = forms.ChoiceField(label="File system type", required=False, choices=FILE_SYSTEM_TYPE_CHOICES)
    file_system_access_mode = forms.ChoiceField(label="File system access", required=False,
                                                choices=FILE_SYSTEM_ACCESS_CHOICES)

    def __init__(self, *args, capabilities: Capabilities | None = None, custom: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if capabilities is not None:
            # Offer only what the engine reads; a value from an import or a clone still shows, and the
            # engine's check refuses it next to this field.
            engine = capabilities.display_name
            _offer(self, "compression", capabilities.compression_types, engine)
            _offer(self, "record_wrapper", capabilities.record_wrappers, engine)
            _offer(self, "s3_data_type", capabilities.s3_data_types, engine)
            modes = capabilities.custom_image_input_modes if custom else capabilities.input_modes
            _offer(self, "input_mode", ("", *modes), engine)
            source = self.data if self.is_bound else self.initial
            if not capabilities.channel_shuffle and not source.get(
                    self.add_prefix("shuffle_seed") if self.is_bound else "shuffle_seed"):
                del self.fields["shuffle_seed"]
            _offer(self, "data_source", capabilities.data_sources, engine)
        # The file system's fields are shown where file systems are offered, or a channel reads one.
        self.file_systems = len(self.fields["data_source"].choices) > 1 or self.is_file_system

    @property
    def is_file_system(self) -> bool:
        source = self.data if self.is_bound else self.initial
        return source.get(self.add_prefix("data_source") if self.is_bound else "data_source") == "FileSystemDataSource"

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("data_source") != "FileSystemDataSource":
            data["data_source"] = "S3DataSource"
            data["file_system_id"] = data["file_system_type"] = data["file_system_access_mode"] = ""
            return data
        if not data.get("file_system_id") and "file_system_id" not in self.errors:
            self.add_error("file_system_id", "Give the ID of the EFS or FSx for Lustre file system (fs-…).")
        data["file_system_type"] = data.get("file_system_type") or "EFS"
        data["file_system_access_mode"] = data.get("file_system_access_mode") or "ro"
        # What only an S3 channel has cannot be sent with a file system: said, never dropped.
        if data.get("s3_data_type") not in (None, "", "S3Prefix") and "s3_data_type" not in self.errors:
            self.add_error("s3_data_type", "A file system channel reads a directory: the data type is for S3 "
                           "channels; set it to S3Prefix.")
        if data.get("distribution") and "distribution" not in self.errors:
            self.add_error("distribution", "The distribution is for S3 channels; set it to Default.")
        if data.get("attribute_names") and "attribute_names" not in self.errors:
            self.add_error("attribute_names", "Attribute names are read from an augmented manifest on S3; remove "
                           "them.")
        data["s3_data_type"], data["distribution"], data["attribute_names"] = "S3Prefix", "", []
        return data

    def clean_attribute_names(self) -> list[str]:
        text = self.cleaned_data.get("attribute_names") or ""
        names = parse_values(text)
        if names is None:
            raise ValidationError('A quote is not closed: write a name holding a comma as "a,b".')
        if any(not name for name in names):
            raise ValidationError("A name between commas is empty; remove the extra comma.")
        return names


def _offer(form: forms.Form, name: str, offered: tuple[str, ...], engine: str) -> None:
    """Keep only the ``offered`` choices of a choice field, plus its current value marked as not offered."""
    field = form.fields[name]
    labels = dict(field.choices)
    choices = [(value, label) for value, label in field.choices if value in offered]
    source = form.data if form.is_bound else form.initial
    current = source.get(form.add_prefix(name) if form.is_bound else name)
    if isinstance(current, str) and current and current not in offered:
        choices.append((current, f"{labels.get(current, current)} (not offered by {engine})"))
    field.choices = choices  # assigned whole: the setter hands the widget its own copy


class InstanceConfigForm(forms.Form):
    """One configuration of an instance pool: an instance type, how many, and their volume."""

    instance_type = forms.ChoiceField(
        label="Instance type",
        error_messages={"required": "Choose an instance type.",
                        "invalid_choice": "Instance type %(value)s is not offered on this portal; choose one of the "
                                          "list."},
    )
    instance_count = forms.IntegerField(label="Instance count", min_value=1, max_value=100,
                                        error_messages={"required": "Enter how many instances of this type."})
    volume_size = forms.IntegerField(label="Volume size (GB)", min_value=1, max_value=16384,
                                     error_messages={"required": "Enter the size of each instance's volume."})

    def __init__(self, *args, instance_types: list[str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        types = list(instance_types or [])
        source = self.data if self.is_bound else self.initial
        current = source.get(self.add_prefix("instance_type") if self.is_bound else "instance_type")
        choices = [("", "Choose…"), *((t, t) for t in types)]
        if isinstance(current, str) and current and current not in types:
            choices.append((current, f"{current} (not offered)"))
        self.fields["instance_type"].choices = choices
        self.not_offered = current if isinstance(current, str) and current and current not in types else None

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.not_offered and "instance_type" not in self.errors:
            self.add_error("instance_type", f"Instance type {self.not_offered} is not offered on this portal; choose "
                           "one of the list.")
        return data


class MetricDefinitionForm(forms.Form):
    """One metric a custom algorithm prints, and the regex that reads it from the log."""

    name = forms.CharField(label="Metric name", max_length=255, error_messages={"required": "Name the metric."})
    regex = forms.CharField(label="Regex", max_length=500, strip=False,
                            error_messages={"required": "Enter the regex that reads the metric from the log."})

    def clean_regex(self) -> str:
        regex = self.cleaned_data["regex"]
        problem = spec.regex_problem(regex)
        if problem:
            raise ValidationError(f"{problem[0].upper()}{problem[1:]}.")
        return regex


class EnvironmentForm(forms.Form):
    """One environment variable a definition's training jobs get."""

    name = forms.CharField(label="Variable", max_length=512, error_messages={"required": "Name the variable, or "
                                                                                          "remove the row."})
    value = forms.CharField(label="Value", max_length=512, required=False)


class _RowsFormSet(forms.BaseFormSet):
    def get_form_kwargs(self, index):
        return dict(self.form_kwargs)


class _EnvironmentFormSet(_RowsFormSet):
    def clean(self) -> None:
        super().clean()
        seen: set[str] = set()
        for form in self.forms:
            name = (form.cleaned_data or {}).get("name") if form.is_valid() else None
            if name and name in seen:
                form.add_error("name", f"Variable {name} is set twice in this definition; keep one row.")
            seen.add(name or "")


HyperparameterFormSet = formset_factory(
    HyperparameterForm, formset=_RowsFormSet, extra=0, max_num=MAX_HYPERPARAMETER_ROWS, validate_max=True,
    absolute_max=ABSOLUTE_MAX_ROWS,
)
ChannelFormSet = formset_factory(
    ChannelForm, formset=_RowsFormSet, extra=0, min_num=1, validate_min=True, max_num=MAX_CHANNELS,
    validate_max=True, absolute_max=ABSOLUTE_MAX_ROWS,
)
MetricDefinitionFormSet = formset_factory(
    MetricDefinitionForm, formset=_RowsFormSet, extra=0, max_num=MAX_METRIC_DEFINITIONS, validate_max=True,
    absolute_max=ABSOLUTE_MAX_ROWS,
)
EnvironmentFormSet = formset_factory(
    EnvironmentForm, formset=_EnvironmentFormSet, extra=0, max_num=MAX_ENVIRONMENT_ROWS, validate_max=True,
    absolute_max=ABSOLUTE_MAX_ROWS,
)
class _InstanceConfigFormSet(_RowsFormSet):
    # No min_num: an unbound formset would show a blank row for it, even for one instance type.
    def clean(self) -> None:
        super().clean()
        if not any(form.has_changed() or form.is_bound for form in self.forms):
            raise ValidationError("An instance pool needs at least one instance configuration; add one.")


InstanceConfigFormSet = formset_factory(
    InstanceConfigForm, formset=_InstanceConfigFormSet, extra=0, max_num=MAX_INSTANCE_CONFIGS, validate_max=True,
    absolute_max=ABSOLUTE_MAX_ROWS,
)
for _formset, _noun in ((HyperparameterFormSet, "hyperparameters"), (ChannelFormSet, "channels"),
                        (MetricDefinitionFormSet, "metric definitions"), (EnvironmentFormSet, "environment variables"),
                        (InstanceConfigFormSet, "instance configurations in a pool")):
    _formset.default_error_messages = {
        **forms.BaseFormSet.default_error_messages,
        "too_many_forms": f"At most %(num)d {_noun} per definition.",
        "too_few_forms": f"Give at least %(num)d of the {_noun}.",
    }


class DefinitionEditor:
    """One definition as forms: bound to its draft (validated) or showing it (no errors yet)."""

    def __init__(self, draft: dict[str, Any], index: int, options: WizardOptions, *, bound: bool):
        self.draft = draft
        self.index = index
        self.options = options
        self.bound = bound
        prefix = EDITOR_PREFIX
        if bound:
            data = flatten(draft, prefix)
            self.form = DefinitionForm(data, prefix=prefix, options=options)
        else:
            initial = dict(draft["fields"])
            for name in BOOLEAN_FIELDS:
                initial[name] = bool(initial[name])
            self.form = DefinitionForm(prefix=prefix, initial=initial, options=options)
        algorithm = self.form.chosen_algorithm if not self.form.is_custom else None
        self.tables: dict[str, forms.BaseFormSet] = {}
        for table, formset_class in (("hyperparameters", HyperparameterFormSet), ("channels", ChannelFormSet),
                                     ("metric_definitions", MetricDefinitionFormSet),
                                     ("environment", EnvironmentFormSet),
                                     ("instance_configs", InstanceConfigFormSet)):
            short = TABLES[table][0]
            form_kwargs: dict[str, Any] = {}
            if table == "hyperparameters":
                form_kwargs = {"algorithm": algorithm, "autotune": options.capabilities.autotune}
            elif table == "instance_configs":
                form_kwargs = {"instance_types": options.instance_types}
            elif table == "channels":
                form_kwargs = {"capabilities": options.capabilities, "custom": self.form.is_custom}
            kwargs = {"prefix": f"{prefix}-{short}", "form_kwargs": form_kwargs}
            if bound:
                self.tables[table] = formset_class(data, **kwargs)
            else:
                self.tables[table] = formset_class(initial=draft[table], **kwargs)
        self._valid: bool | None = None

    @property
    def hyperparameters(self) -> forms.BaseFormSet:
        return self.tables["hyperparameters"]

    @property
    def channels(self) -> forms.BaseFormSet:
        return self.tables["channels"]

    @property
    def metric_definitions(self) -> forms.BaseFormSet:
        return self.tables["metric_definitions"]

    @property
    def environment(self) -> forms.BaseFormSet:
        return self.tables["environment"]

    @property
    def instance_configs(self) -> forms.BaseFormSet:
        return self.tables["instance_configs"]

    def _shown(self, table: str) -> bool:
        """Whether a table is part of the definition as chosen (metric definitions: custom images; a pool's rows)."""
        if table == "metric_definitions":
            return self.form.is_custom  # built-ins report their metrics themselves; the table is not shown
        if table == "instance_configs":
            return self.form.is_pool
        return True

    def is_valid(self) -> bool:
        """Whether every field and row of the definition is valid on its own."""
        if self._valid is None:
            valid = self.form.is_valid()
            for table, formset in self.tables.items():
                if not self._shown(table):
                    continue
                valid = formset.is_valid() and valid
            self._valid = valid
        return self._valid

    def values(self) -> dict[str, Any]:
        """The definition's wizard values (see convert.build_request); only after is_valid()."""
        values = dict(self.form.cleaned_data)
        values.pop("loaded_algorithm", None)
        values["hyperparameters"] = [
            {k: v for k, v in row.items() if k != "builtin"} for row in self.hyperparameters.cleaned_data
        ]
        values["channels"] = list(self.channels.cleaned_data)
        values["metric_definitions"] = list(self.metric_definitions.cleaned_data) if self.form.is_custom else []
        values["environment"] = list(self.environment.cleaned_data)
        values["instance_configs"] = list(self.instance_configs.cleaned_data) if self.form.is_pool else []
        return values

    def add_problem(self, location: tuple, message: str) -> None:
        """Show a rule's problem next to the field it concerns (location as in convert.Location)."""
        self._valid = False
        field_name = location[2] if len(location) > 2 else None
        if field_name in self.tables:
            formset = self.tables[field_name]
            row = location[3] if len(location) > 3 else None
            row_field = location[4] if len(location) > 4 else None
            if isinstance(row, int) and row < len(formset.forms):
                form = formset.forms[row]
                form.add_error(row_field if row_field in form.fields else None, message)
            else:
                formset._non_form_errors.append(message)  # noqa: SLF001 (Django has no public adder)
            return
        if field_name in self.form.fields:
            self.form.add_error(field_name, message)
        else:
            self.form.add_error(None, message)

    @property
    def error_count(self) -> int:
        """How many problems this definition has (0 before validation)."""
        if not self.bound or self._valid is None:
            return 0
        count = sum(len(errors) for errors in self.form.errors.values())
        for table, formset in self.tables.items():
            if not self._shown(table):
                continue
            count += len(formset.non_form_errors())
            count += sum(len(errors) for form in formset.forms for errors in form.errors.values())
        return count

    def summary(self) -> dict[str, Any]:
        """What the definitions table shows of this definition."""
        fields = self.draft["fields"]
        rows = self.draft["hyperparameters"]
        if fields["algorithm_source"] == "custom":
            algorithm_label = fields["image"] or "Custom image (no URI yet)"
        else:
            try:
                algorithm_label = catalogue.get(fields["algorithm"]).display_name
            except KeyError:
                algorithm_label = fields["algorithm"] or "—"
        return {
            "index": self.index,
            "name": fields["name"] or f"(definition {self.index + 1} has no name)",
            "algorithm": algorithm_label,
            "objective": f"{fields['objective_metric']} ({fields['objective_type']})" if fields["objective_metric"] else "—",
            "tuned": sum(1 for row in rows if row.get("kind") in ("Integer", "Continuous", "Categorical")),
            "static": sum(1 for row in rows if row.get("kind") == "Static" and row.get("value")),
            "instance": (" then ".join(f"{c.get('instance_count') or '?'} × {c.get('instance_type') or '?'}"
                                       for c in self.draft["instance_configs"]) or "pool (empty)")
            if fields["resource_kind"] == "pool" else f"{fields['instance_count'] or '?'} × {fields['instance_type'] or '?'}",
            "errors": self.error_count,
        }


class DefinitionsStepForm:
    """Step 2: one to ten training job definitions, one open in the editor at a time.

    Offers the interface formtools uses of a form (``is_valid``, ``cleaned_data``, ``data``), so it
    can be a wizard step. Posted data: ``definitions-drafts`` (JSON list of drafts),
    ``definitions-open`` (index of the open draft, whose current fields are posted under ``def-``),
    and ``def-action`` (the button pressed, if any).
    """

    base_fields: dict[str, forms.Field] = {}  # formtools inspects it for file fields
    media = forms.Media()
    ACTION = f"{EDITOR_PREFIX}-action"

    def __init__(self, data=None, files=None, prefix: str | None = None, initial=None, *,
                 options: WizardOptions, rules: Rules | None = None, **kwargs):
        self.prefix = prefix or "definitions"
        self.options = options
        self.rules = rules
        self.is_bound = data is not None
        self.data = data if data is not None else {}
        self.files = None  # no uploads on this step
        self.notices: list[str] = []
        self.non_field_errors: list[str] = []
        self._validated = False
        self.cleaned_data: list[dict[str, Any]] = []
        if self.is_bound:
            self.drafts, self.open = self._read(self.data)
        else:
            drafts = initial if isinstance(initial, list) and initial else [new_draft(options, "definition-1")]
            self.drafts = [normalize_draft(d) for d in drafts]
            self.open = 0
        self._editors: dict[int, DefinitionEditor] = {}

    # -- reading and writing --
    def _read(self, data) -> tuple[list[dict[str, Any]], int | None]:
        try:
            raw = json.loads(data.get(f"{self.prefix}-drafts") or "[]")
        except (TypeError, ValueError, RecursionError):  # a tampered page: as if it held no drafts
            raw = []
        drafts = [normalize_draft(d) for d in (raw if isinstance(raw, list) else [])[:MAX_DRAFTS]]
        try:
            open_index = int(data.get(f"{self.prefix}-open"))
        except (TypeError, ValueError):
            open_index = None
        if open_index is not None and not 0 <= open_index < len(drafts):
            open_index = None
        if open_index is not None and f"{EDITOR_PREFIX}-hp-TOTAL_FORMS" in data:
            # The open definition's fields as just posted replace its stored draft.
            drafts[open_index] = unflatten(data, EDITOR_PREFIX)
        return drafts, open_index

    def step_data(self) -> dict[str, list[str]]:
        """What the wizard stores for this step: every draft, as typed, and which one is open."""
        return {
            f"{self.prefix}-drafts": [json.dumps(self.drafts, separators=(",", ":"))],
            f"{self.prefix}-open": ["" if self.open is None else str(self.open)],
        }

    @property
    def drafts_json(self) -> str:
        return json.dumps(self.drafts, separators=(",", ":"))

    @classmethod
    def data_from_values(cls, definitions: list[dict[str, Any]], options: WizardOptions,
                         prefix: str = "definitions") -> dict[str, list[str]]:
        """Stored step data for the wizard values of this step."""
        drafts = [draft_from_values(values, options) for values in definitions]
        return {f"{prefix}-drafts": [json.dumps(drafts, separators=(",", ":"))], f"{prefix}-open": ["0" if drafts else ""]}

    # -- the buttons --
    def apply(self, action: str) -> None:
        """Carry out a button's action on the drafts (nothing is validated; nothing typed is lost)."""
        verb, _, argument = (action or "").partition(":")
        try:
            number = int(argument) if argument else None
        except ValueError:
            number = None
        self._editors.clear()
        draft = self.drafts[self.open] if self.open is not None else None
        if verb == "add":
            if len(self.drafts) >= MAX_DEFINITIONS:
                self.notices.append(f"A tuning job can have at most {MAX_DEFINITIONS} training job definitions.")
                return
            self.drafts.append(new_draft(self.options, self._free_name("definition", len(self.drafts) + 1)))
            self.open = len(self.drafts) - 1
        elif verb in ("edit", "copy", "remove") and number is not None and 0 <= number < len(self.drafts):
            if verb == "edit":
                self.open = number
            elif verb == "copy":
                if len(self.drafts) >= MAX_DEFINITIONS:
                    self.notices.append(f"A tuning job can have at most {MAX_DEFINITIONS} training job definitions.")
                    return
                duplicate = copy.deepcopy(self.drafts[number])
                duplicate["fields"]["name"] = self._free_name(f"{duplicate['fields']['name'] or 'definition'}-copy")
                self.drafts.insert(number + 1, duplicate)
                self.open = number + 1
            else:
                removed = self.drafts.pop(number)
                self.notices.append(f"Definition {removed['fields']['name'] or number + 1} removed.")
                if self.open is not None:
                    if self.open == number:
                        self.open = min(number, len(self.drafts) - 1) if self.drafts else None
                    elif self.open > number:
                        self.open -= 1
        elif draft is not None and verb in ("add-row", "remove-row") and argument:
            table, _, row = argument.partition(":")
            if table not in TABLES:
                return
            rows = draft[table]
            if verb == "add-row":
                limit = {"hyperparameters": MAX_HYPERPARAMETER_ROWS, "channels": MAX_CHANNELS,
                         "metric_definitions": MAX_METRIC_DEFINITIONS, "environment": MAX_ENVIRONMENT_ROWS,
                         "instance_configs": MAX_INSTANCE_CONFIGS}[table]
                if len(rows) >= limit:
                    self.notices.append(f"At most {limit} rows here.")
                    return
                rows.append(self._blank_row(table, draft))
            else:
                try:
                    del rows[int(row)]
                except (ValueError, IndexError):
                    pass
        elif draft is not None and verb == "load-defaults":
            notice = load_algorithm_defaults(draft, self.options)
            if notice:
                self.notices.append(notice)
        if self.open is not None:
            self._sync_algorithm(self.drafts[self.open])

    def _sync_algorithm(self, draft: dict[str, Any]) -> bool:
        """Load the table of a newly chosen algorithm (without JavaScript the select cannot do it); True if loaded."""
        fields = draft["fields"]
        builtin_changed = fields["algorithm_source"] == "builtin" and fields["algorithm"] != fields["loaded_algorithm"]
        to_custom = fields["algorithm_source"] == "custom" and fields["loaded_algorithm"]
        if builtin_changed or to_custom:
            notice = load_algorithm_defaults(draft, self.options)
            if notice:
                self.notices.append(notice)
            return True
        return False

    def _blank_row(self, table: str, draft: dict[str, Any]) -> dict[str, str]:
        if table == "hyperparameters":
            return {"name": "", "kind": "Continuous", "value": "", "min": "", "max": "", "scaling": "Auto",
                    "values": "", "builtin": ""}
        if table == "channels":
            return {"name": "", "uri": "", "s3_data_type": "S3Prefix", "content_type": "", "compression": "None",
                    "distribution": "", "record_wrapper": "None", "input_mode": ""}
        if table == "environment":
            return {"name": "", "value": ""}
        if table == "instance_configs":
            # A pool starts from the definition's one instance type.
            fields = draft["fields"]
            if not draft["instance_configs"]:
                return {"instance_type": fields["instance_type"], "instance_count": fields["instance_count"] or "1",
                        "volume_size": fields["volume_size"] or "30"}
            last = draft["instance_configs"][-1]
            return {"instance_type": "", "instance_count": last.get("instance_count") or "1",
                    "volume_size": last.get("volume_size") or "30"}
        return {"name": "", "regex": ""}

    def _free_name(self, base: str, first_number: int | None = None) -> str:
        """``base``, or ``base-N`` from ``first_number`` on, whichever no definition has yet."""
        taken = {d["fields"]["name"] for d in self.drafts}
        base = base[:58]
        if first_number is None and base not in taken:
            return base
        for number in range(first_number or 2, 100):
            if f"{base}-{number}" not in taken:
                return f"{base}-{number}"
        return base

    # -- validation --
    def editor(self, index: int, *, bound: bool) -> DefinitionEditor:
        key = index if bound else -1 - index
        if key not in self._editors:
            self._editors[key] = DefinitionEditor(self.drafts[index], index, self.options, bound=bound)
        return self._editors[key]

    def is_valid(self) -> bool:
        """Whether there are 1 to 10 definitions, each valid, and the rules find nothing; opens the first with a problem."""
        if self._validated:
            return self._result
        self._result = self._validate()
        return self._result

    def _validate(self) -> bool:
        self._validated = True
        self.non_field_errors = []
        if self.open is not None and self._sync_algorithm(self.drafts[self.open]):
            # A newly chosen algorithm's table was just loaded: let the person look at it first.
            self._editors.clear()
            self.non_field_errors.append("Check the hyperparameters just loaded for the algorithm you chose, then continue.")
        if not self.drafts:
            self.non_field_errors.append("Add at least one training job definition.")
        elif len(self.drafts) > MAX_DEFINITIONS:
            self.non_field_errors.append(
                f"A tuning job can have at most {MAX_DEFINITIONS} training job definitions (got {len(self.drafts)})."
            )
        editors = [self.editor(index, bound=True) for index in range(len(self.drafts))]
        valid = all([editor.is_valid() for editor in editors]) and not self.non_field_errors
        if valid and self.rules is not None:
            values = [editor.values() for editor in editors]
            for location, message in self.rules(values):
                index = location[1] if len(location) > 1 else None
                if isinstance(index, int) and 0 <= index < len(editors):
                    editors[index].add_problem(location, message)
                else:
                    self.non_field_errors.append(message)
                valid = False
        if valid:
            self.cleaned_data = [editor.values() for editor in editors]
            return True
        invalid = [editor.index for editor in editors if not editor.is_valid()]
        if invalid and (self.open is None or self.open not in invalid):
            self.open = invalid[0]  # show the first problem next to its field
        return False

    @property
    def errors(self) -> list[str]:
        return self.non_field_errors

    # -- what the template shows --
    @property
    def open_editor(self) -> DefinitionEditor | None:
        if self.open is None:
            return None
        return self.editor(self.open, bound=self._validated)

    @property
    def summaries(self) -> list[dict[str, Any]]:
        return [self.editor(index, bound=self._validated).summary() for index in range(len(self.drafts))]

    @property
    def can_add(self) -> bool:
        return len(self.drafts) < MAX_DEFINITIONS


# ---- import --------------------------------------------------------------------------------------------
MAX_IMPORT_BYTES = 1_000_000


class ImportForm(forms.Form):
    """A CreateHyperParameterTuningJob request, pasted or uploaded (a describe output is fine too)."""

    request_json = forms.CharField(
        label="Request JSON", required=False,
        widget=forms.Textarea(attrs={"rows": 16, "spellcheck": "false", "class": "mono"}),
        help_text="A CreateHyperParameterTuningJob request as the AWS CLI or SDK takes it, or a "
        "DescribeHyperParameterTuningJob output (its read-only fields are ignored).",
    )
    request_file = forms.FileField(label="Or upload a JSON file", required=False)
    name = forms.CharField(
        label="New job name", required=False, max_length=32,
        help_text="Optional: replaces the name in the request (names must be unique).",
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if name and not NAME_RE.fullmatch(name):
            raise ValidationError("Use 1 to 32 letters, digits and hyphens, starting and ending with a letter or digit.")
        return name

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        text = data.get("request_json") or ""
        upload = data.get("request_file")
        if upload is not None:
            if text.strip():
                raise ValidationError("Paste the request or upload a file, not both.")
            if upload.size > MAX_IMPORT_BYTES:
                self.add_error("request_file", f"The file is larger than {MAX_IMPORT_BYTES // 1000} kB.")
                return data
            try:
                text = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                self.add_error("request_file", "The file is not UTF-8 text.")
                return data
            field_name = "request_file"
        else:
            field_name = "request_json"
        if not text.strip():
            raise ValidationError("Paste a request or upload a JSON file.")
        parsed, problem = parse_request_text(text)
        if problem:
            self.add_error(field_name, problem)
            return data
        data["request"] = parsed
        return data


def parse_request_text(text: str) -> tuple[dict[str, Any] | None, str]:
    """A request's JSON text read as an object, or the reason it cannot be (shared by import and the API)."""
    if len(text) > MAX_IMPORT_BYTES:
        return None, f"The request is larger than {MAX_IMPORT_BYTES // 1000} kB."
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"This is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
    except (RecursionError, ValueError):
        # Valid JSON that Python's reader refuses: nesting too deep, an integer of thousands of digits.
        return None, ("This is not JSON the portal can read: it is nested too deeply or holds "
                      "a number too long to be a request's.")
    if not isinstance(parsed, dict):
        return None, "The request must be a JSON object ({ ... })."
    return parsed, ""
