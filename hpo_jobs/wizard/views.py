"""The create wizard (formtools SessionWizardView), import and clone.

- Each run of the wizard has its own storage slot, named by a ``?run=<token>`` in the form's URL
  (formtools issue #126: one slot per wizard class, so two tabs would overwrite each other).
- Whatever a step's page posts is kept, valid or not, so Back, Next and a reload never lose what
  was typed; the review step's edit links go back to a step (and a definition) the same way.
- Each step's form checks SageMaker's rules on the request assembled from its values and the other
  steps' stored values, and shows the problems that concern it next to their fields; the review
  step checks the whole request again and lists anything left, so nothing reaches ``done()``
  unchecked.
- ``done()`` makes one service call. The storage is wiped only after it succeeded (formtools #61);
  a second submit of the same run (a double click) finds the run finished, or the job it just
  created, and is sent to that job.
"""

from __future__ import annotations

import json
import re
import secrets
from collections import OrderedDict
from typing import Any

from django.contrib import messages
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods
from formtools.wizard.forms import ManagementForm
from formtools.wizard.storage import get_storage
from formtools.wizard.views import SessionWizardView

from projects import access

from hpo_jobs import services
from hpo_jobs.models import HpoJob
from hpo_jobs.pages import presenters
from hpo_jobs.sagemaker import spec
from hpo_jobs.templatetags.hpo_format import format_time

from . import convert
from .forms import (
    DefinitionsStepForm,
    ImportForm,
    JobSettingsForm,
    ReviewForm,
    TuningResourcesForm,
    WizardOptions,
    name_problem,
)

STEPS = (
    ("job", JobSettingsForm),
    ("definitions", DefinitionsStepForm),
    ("resources", TuningResourcesForm),
    ("review", ReviewForm),
)
STEP_LABELS = {
    "job": "Job settings",
    "definitions": "Training job definitions",
    "resources": "Tuning resources",
    "review": "Review",
}
DATA_STEPS = ("job", "definitions", "resources")
RUN_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")
RUNS_KEY = "hpo_wizard_runs"  # the session's open runs, oldest first
DONE_KEY = "hpo_wizard_done"  # finished runs -> the URL of the job each created
MAX_RUNS = 10  # open wizards kept per session; the oldest is dropped beyond this
MAX_DONE = 20
TABLE_LABELS = {"hyperparameters": "hyperparameter", "channels": "channel", "metric_definitions": "metric definition",
                "environment": "environment variable"}


def _prefix(project, token: str) -> str:
    return f"hpo_job_wizard_{project.pk}_{token}"


def _register_run(session, prefix: str) -> None:
    """Remember an open run; forget the oldest when a session holds too many (abandoned tabs)."""
    runs = [r for r in session.get(RUNS_KEY, []) if r != prefix] + [prefix]
    while len(runs) > MAX_RUNS:
        session.pop(f"wizard_{runs.pop(0)}", None)
    session[RUNS_KEY] = runs


def _finish_run(session, prefix: str, job_url: str) -> None:
    runs = [r for r in session.get(RUNS_KEY, []) if r != prefix]
    session[RUNS_KEY] = runs
    done = dict(session.get(DONE_KEY, {}))
    done[prefix] = job_url
    session[DONE_KEY] = dict(list(done.items())[-MAX_DONE:])


def wizard_url(project, token: str) -> str:
    """The address of one run of the wizard."""
    return f"{reverse('hpo_jobs:create', args=[project.slug])}?run={token}"


def _default_values(step: str) -> Any:
    # For a step not filled in yet, while another step checks its rules: neutral values.
    if step == "job":
        return {"name": "", "strategy": "Bayesian", "early_stopping": "Off", "tags": []}
    if step == "definitions":
        return []
    return {"max_parallel": 1, "max_jobs": None, "max_runtime": None}


class JobWizard(SessionWizardView):
    """Create an HPO job in four steps: job settings, definitions, tuning resources, review."""

    form_list = STEPS

    # -- the run --
    def dispatch(self, request: HttpRequest, *args, project=None, seed: tuple | None = None, **kwargs):
        self.project = project
        self.seed = seed  # (values by step, step to open): a clone
        # Not ``self.options``: that would hide View.options(), the OPTIONS handler.
        self.wizard_options = WizardOptions.for_project(project, request.user)
        self._finalizing = False
        self._checking_name = False
        self._succeeded = False
        self._values_cache: dict[str, Any] = {}
        self._review: dict[str, Any] | None = None
        return super().dispatch(request, *args, **kwargs)

    def get_prefix(self, request, *args, **kwargs) -> str:
        token = request.GET.get("run", "")
        self.run_given = bool(RUN_RE.fullmatch(token)) and self.seed is None
        self.run = token if self.run_given else secrets.token_urlsafe(18)
        return _prefix(self.project, self.run)

    def _finished_url(self) -> str | None:
        return self.request.session.get(DONE_KEY, {}).get(self.prefix)

    def _store(self, step: str, data: dict) -> None:
        self.storage.set_step_data(step, data)
        self._values_cache.clear()
        self._review = None

    def get(self, request, *args, **kwargs):
        finished = self._finished_url()
        if finished:
            return redirect(finished)
        if not self.run_given or self.storage.current_step is None:
            # A new run (no token, or one this session does not hold): fresh, or seeded for a clone.
            self.storage.reset()
            self.storage.current_step = self.steps.first
            if self.seed is not None:
                values, step = self.seed
                for name, data in seed_data(values, self.wizard_options).items():
                    self.storage.set_step_data(name, data)
                self.storage.current_step = step
            _register_run(request.session, self.prefix)
        # Reloading a run shows the step it is on, with what was typed there.
        step = self.storage.current_step
        data = self.storage.get_step_data(step)
        form = self.get_form(step, data=data)
        if data is not None and step != "review":
            form.is_valid()
        return self.render(form)

    def post(self, *args, **kwargs):
        finished = self._finished_url()
        if finished:
            # The run already created its job: a second click on Create, or a resubmitted page.
            return redirect(finished)
        if not self.run_given or self.storage.current_step is None:
            messages.warning(self.request, "That wizard had ended or expired, so a new one was started.")
            return redirect(reverse("hpo_jobs:create", args=[self.project.slug]))
        management = ManagementForm(self.request.POST, prefix=self.prefix)
        if not management.is_valid():
            raise SuspiciousOperation("ManagementForm data is missing or has been tampered with.")
        posted_step = management.cleaned_data["current_step"]
        if posted_step not in self.get_form_list():
            # No page of the wizard posts that: formtools would store it as the current step and fail.
            raise SuspiciousOperation("ManagementForm data is missing or has been tampered with.")
        # The step a page was posted from is the step its data belongs to (back button, old tab).
        self.storage.current_step = posted_step
        step = self.steps.current

        goto = self.request.POST.get("wizard_goto_step", "")
        target, _, definition = goto.partition(":")
        if target in self.get_form_list():
            self._keep_typed(step)
            if target == "definitions" and re.fullmatch(r"[0-9]{1,6}", definition):
                self._open_definition(int(definition))
            return self.render_goto_step(target)

        action = self.request.POST.get(DefinitionsStepForm.ACTION)
        if action and step == "definitions":
            form = self.get_form(data=self.request.POST)
            form.apply(action)
            self._store(step, form.step_data())
            return self.render(form)

        if step != "review":
            self._keep_typed(step)
        self._checking_name = step == "job"
        return super().post(*args, **kwargs)

    def _keep_typed(self, step: str) -> None:
        """Store what the page of ``step`` posted, valid or not, so that nothing typed is lost."""
        if step == "review":
            return
        form = self.get_form(step, data=self.request.POST)
        self._store(step, self.get_form_step_data(form))

    def _open_definition(self, index: int) -> None:
        data = self.storage.get_step_data("definitions")
        if data is None:
            return
        form = self.get_form("definitions", data=data)
        if 0 <= index < len(form.drafts):
            form.open = index
            self._store("definitions", form.step_data())

    def render_goto_step(self, goto_step, **kwargs):
        self.storage.current_step = goto_step
        data = self.storage.get_step_data(goto_step)
        form = self.get_form(data=data)
        if data is not None and goto_step != "review":
            form.is_valid()  # coming back to a step shows what is wrong there, next to the field
        return self.render(form, **kwargs)

    # -- forms --
    def get_form_kwargs(self, step=None) -> dict[str, Any]:
        if step == "job":
            return {"options": self.wizard_options, "rules": self._rules("job"),
                    "check_name": self._checking_name and not self._finalizing}
        if step == "definitions":
            return {"options": self.wizard_options, "rules": self._rules("definitions")}
        if step == "resources":
            return {"rules": self._rules("resources"), "strategy": (self._values("job") or {}).get("strategy")}
        if step == "review":
            return {"check": self._review_problems}
        return {}

    def get_form_initial(self, step):
        if step == "job":
            return {"name": suggest_name()}
        return super().get_form_initial(step)

    def get_form_step_data(self, form):
        if isinstance(form, DefinitionsStepForm):
            return form.step_data()
        # Without the CSRF token and the wizard's own management field: only the step's fields.
        return {key: values for key, values in dict(form.data.lists()).items()
                if key.startswith(f"{form.prefix}-")} if hasattr(form.data, "lists") else form.data

    def _values(self, step: str) -> Any:
        """A step's stored values when they are valid on their own (no rules), else None."""
        if step not in self._values_cache:
            data = self.storage.get_step_data(step)
            value = None
            if data is not None:
                kwargs = {"job": {"options": self.wizard_options}, "definitions": {"options": self.wizard_options}}.get(step, {})
                form = dict(STEPS)[step](data=data, prefix=self.get_form_prefix(step), **kwargs)
                if form.is_valid():
                    value = form.cleaned_data
            self._values_cache[step] = value
        return self._values_cache[step]

    def _rules(self, step: str):
        """A callable checking a step's values with SageMaker's rules; returns the problems located in that step."""

        def check(values: Any) -> list[tuple[tuple, str]]:
            by_step = {}
            for name in DATA_STEPS:
                value = values if name == step else self._values(name)
                by_step[name] = value if value is not None else _default_values(name)
            sources: dict[tuple, tuple] = {}
            request = convert.build_request(by_step, self.project, self.request.user, sources=sources)
            problems = []
            for issue in spec.validate_request(request, self.wizard_options.validation_context()):
                location = convert.locate(issue.path, sources)
                if location is not None and location[0] == step:
                    problems.append((location, issue.message))
            return problems

        return check

    # -- review --
    def review(self) -> dict[str, Any]:
        """The assembled request and every problem left in it, each with where it is and a link to fix it."""
        if self._review is not None:
            return self._review
        values = {step: self._values(step) for step in DATA_STEPS}
        problems: list[dict[str, Any]] = []
        for step in DATA_STEPS:
            if values[step] is None:
                problems.append({"step": step, "goto": step, "where": STEP_LABELS[step],
                                 "message": "This step has problems or is not filled in yet."})
        request = None
        if not problems:
            sources: dict[tuple, tuple] = {}
            request = convert.build_request(values, self.project, self.request.user, sources=sources)
            role_missing = not convert.execution_role(self.project)
            if role_missing:
                problems.append({"step": None, "goto": None, "where": "Execution role", "message": (
                    "This project has no SageMaker execution role. A site administrator sets it on the project "
                    "(or the site default, SAGEMAKER_ROLE_ARN).")})
            for issue in spec.validate_request(request, self.wizard_options.validation_context()):
                if role_missing and issue.path.endswith(".RoleArn"):
                    continue
                location = convert.locate(issue.path, sources)
                problems.append(self._describe_problem(location, issue.message, values))
        self._review = {"request": request, "problems": problems}
        return self._review

    def _describe_problem(self, location: tuple | None, message: str, values: dict[str, Any]) -> dict[str, Any]:
        if location is None:
            return {"step": None, "goto": None, "where": "Request", "message": message}
        step = location[0]
        if step == "policy":
            return {"step": None, "goto": None, "where": "Set by the project", "message": message}
        if step != "definitions":
            field = location[1] if len(location) > 1 else None
            form_class = dict(STEPS)[step]
            label = form_class.base_fields[field].label if field in form_class.base_fields else None
            where = STEP_LABELS[step] + (f" · {label}" if label else "")
            return {"step": step, "goto": step, "where": where, "message": message}
        index = location[1] if len(location) > 1 else None
        if not isinstance(index, int) or index >= len(values["definitions"]):
            return {"step": step, "goto": step, "where": STEP_LABELS[step], "message": message}
        definition = values["definitions"][index]
        where = f"Definition {definition.get('name') or index + 1}"
        table = location[2] if len(location) > 2 else None
        if table in TABLE_LABELS:
            row = location[3] if len(location) > 3 else None
            if isinstance(row, int) and row < len(definition.get(table) or []):
                name = (definition[table][row] or {}).get("name")
                where += f" · {TABLE_LABELS[table]} {name or row + 1}"
            else:
                where += f" · {TABLE_LABELS[table]}s"
        elif table:
            where += f" · {table.replace('_', ' ')}"
        return {"step": step, "goto": f"definitions:{index}", "where": where, "message": message}

    def _review_problems(self) -> list[str]:
        return [problem["message"] for problem in self.review()["problems"]]

    # -- done --
    def render_done(self, form, **kwargs):
        # As formtools does, every step is validated again (rules included) and a step with a
        # problem is shown with it; unlike formtools, the storage is kept unless done() succeeded.
        self._finalizing = True
        final_forms = OrderedDict()
        for step in self.get_form_list():
            form_obj = self.get_form(step=step, data=self.storage.get_step_data(step))
            if not form_obj.is_valid():
                return self.render_revalidation_failure(step, form_obj, **kwargs)
            final_forms[step] = form_obj
        response = self.done(list(final_forms.values()), form_dict=final_forms, **kwargs)
        if self._succeeded:
            self.storage.reset()
        return response

    def done(self, form_list, form_dict=None, **kwargs):
        values = {step: form_dict[step].cleaned_data for step in DATA_STEPS}
        request = convert.build_request(values, self.project, self.request.user)
        try:
            job = services.create_job(self.project, self.request.user, request)
        except services.JobNameTaken:
            existing = HpoJob.objects.filter(name__iexact=request["HyperParameterTuningJobName"]).first()
            if (existing is not None and existing.project_id == self.project.pk
                    and existing.created_by_id == self.request.user.pk and existing.request == request):
                # The same request by the same person, just created: the first of a double submit.
                self._succeeded = True
                _finish_run(self.request.session, self.prefix, existing.get_absolute_url())
                return redirect(existing.get_absolute_url())
            # Someone took the name since the first step: back there, with the reason next to it.
            self._values_cache.clear()
            self.storage.current_step = "job"
            form = self.get_form("job", data=self.storage.get_step_data("job"))
            form.is_valid()
            form.add_error("name", name_problem(request["HyperParameterTuningJobName"])
                           or "This name was just taken; choose another name.")
            return self.render(form)
        self._succeeded = True
        _finish_run(self.request.session, self.prefix, job.get_absolute_url())
        messages.success(self.request, f"Job {job.name} created; it will start shortly.")
        return redirect(job.get_absolute_url())

    # -- pages --
    def get_template_names(self) -> list[str]:
        return [f"hpo_jobs/wizard/{self.steps.current}.html"]

    def get_context_data(self, form, **kwargs) -> dict[str, Any]:
        context = super().get_context_data(form=form, **kwargs)
        current = self.steps.current
        steps = list(self.get_form_list())
        context.update(
            project=self.project,
            options=self.wizard_options,
            action_url=wizard_url(self.project, self.run),
            step_label=STEP_LABELS[current],
            step_list=[
                {"name": name, "label": STEP_LABELS[name], "number": number, "current": name == current,
                 "done": number - 1 < steps.index(current)}
                for number, name in enumerate(steps, start=1)
            ],
            engine=self.wizard_options.engine,
            data_folders=self.wizard_options.data_folders,
        )
        if current == "review":
            review = self.review()
            context["review"] = review
            if review["request"] is not None:
                context["request_json"] = json.dumps(review["request"], indent=2)
                context["sections"] = presenters.present_request(review["request"])
        return context


def suggest_name() -> str:
    """A fresh job name, e.g. hpo-20250101-120000 (the person may change it)."""
    return f"hpo-{timezone.now():%Y%m%d-%H%M%S}"


def seed_data(values: dict[str, Any], options: WizardOptions) -> dict[str, dict]:
    """Stored step data for the wizard values of a whole request (import and clone)."""
    return {
        "job": JobSettingsForm.data_from_values(values["job"]),
        "definitions": DefinitionsStepForm.data_from_values(values["definitions"], options),
        "resources": TuningResourcesForm.data_from_values(values["resources"]),
    }


def start_run(request: HttpRequest, project, values: dict[str, Any], step: str) -> str:
    """Open a new run of the wizard holding ``values`` at ``step``; its URL."""
    token = secrets.token_urlsafe(18)
    prefix = _prefix(project, token)
    storage = get_storage(JobWizard.storage_name, prefix, request)
    storage.init_data()
    for name, data in seed_data(values, WizardOptions.for_project(project, request.user)).items():
        storage.set_step_data(name, data)
    storage.current_step = step
    _register_run(request.session, prefix)
    return wizard_url(project, token)


_wizard_view = JobWizard.as_view()


@require_http_methods(["GET", "HEAD", "POST"])
@access.project_view(access.can_create_jobs)
def create_job(request: HttpRequest, project) -> HttpResponse:
    """The create wizard; ``?run=<token>`` names one run of it (a new run without it)."""
    return _wizard_view(request, project=project)


def _name_taken(name: str) -> bool:
    return name_problem(name) is not None


def check_import(project, user, request: dict[str, Any], name: str = "") -> tuple[dict[str, Any] | None, list[tuple[str, str]]]:
    """The import page's rules: the wizard's values for ``request`` (a parsed JSON object), or the
    problems that refuse it as (path, message) pairs; shared by the import page and the API."""
    options = WizardOptions.for_project(project, user)
    raw = spec.strip_read_only(request)
    if name:
        raw["HyperParameterTuningJobName"] = name
    # The role, VPC and portal tags are the project's, whatever the request says.
    candidate = convert.apply_project_policy(raw, project, user)
    problems = [
        (issue.path or "Request", issue.message)
        for issue in spec.validate_request(candidate, options.validation_context(name_taken=_name_taken))
    ]
    if problems:
        return None, problems
    try:
        return convert.request_to_wizard_data(candidate), []
    except convert.UnsupportedRequest as exc:
        return None, exc.problems


@require_http_methods(["GET", "HEAD", "POST"])
@access.project_view(access.can_create_jobs)
def import_job(request: HttpRequest, project) -> HttpResponse:
    """Import a CreateHyperParameterTuningJob request: checked by the same rules, then opened in the wizard at review."""
    form = ImportForm(request.POST or None, request.FILES or None)
    problems: list[tuple[str, str]] = []
    if request.method == "POST":
        if form.is_valid():
            values, problems = check_import(project, request.user, form.cleaned_data["request"],
                                            form.cleaned_data["name"])
            if not problems:
                url = start_run(request, project, values, "review")
                for note in dict.fromkeys(values["notes"]):
                    messages.info(request, note)
                messages.success(request, "Request imported: review it, then create the job.")
                return redirect(url)
        status = 400
    else:
        status = 200
    return render(request, "hpo_jobs/import.html", {"project": project, "form": form, "problems": problems},
                  status=status)


def clone_name(name: str) -> str:
    """A free name for a clone of job ``name``: name-copy, name-copy-2, ..."""
    base = name[:32 - len("-copy-99")].rstrip("-") or "job"
    for number in range(1, 100):
        candidate = f"{base}-copy" if number == 1 else f"{base}-copy-{number}"
        if not HpoJob.objects.filter(name__iexact=candidate).exists():
            return candidate
    return suggest_name()


@require_http_methods(["GET", "HEAD", "POST"])
@access.project_view(access.can_create_jobs)
def clone_job(request: HttpRequest, project, name: str) -> HttpResponse:
    """The wizard filled in from a job of this project, under a new free name."""
    # Tuning job names are case-insensitive, as on the job's own pages.
    job = get_object_or_404(HpoJob, project=project, name__iexact=name)
    try:
        values = convert.request_to_wizard_data(job.request)
    except convert.UnsupportedRequest as exc:
        messages.error(request, f"This job's request cannot be opened in the wizard: {exc}")
        return redirect(job)
    values["job"]["name"] = clone_name(job.name)
    count = len(values["definitions"])
    messages.info(request, f"Cloned from {job.name} ({job.get_status_display()}, created "
                           f"{format_time(job.created_at)}): its {count} definition{'s' if count != 1 else ''}, "
                           f"strategy, resources and tags are filled in; the new job is named {values['job']['name']}.")
    return _wizard_view(request, project=project, seed=(values, "job"))


@require_http_methods(["GET", "HEAD", "POST"])
@access.project_view(access.can_create_jobs)
def clone_narrowed_job(request: HttpRequest, project, name: str) -> HttpResponse:
    """The wizard filled in from a job of this project, each tuned range narrowed to where its best
    training jobs are (the job's insights), under a new free name."""
    from hpo_jobs.pages import insights

    job = get_object_or_404(HpoJob, project=project, name__iexact=name)
    narrowed = insights.narrowed_request(job)
    if narrowed is None:
        messages.info(request, f"{job.name} has no narrowed ranges yet: they need at least "
                               f"{insights.MIN_EVALUATED} evaluated training jobs.")
        return redirect(f"{job.get_absolute_url()}?tab=insights")
    try:
        values = convert.request_to_wizard_data(narrowed)
    except convert.UnsupportedRequest as exc:
        messages.error(request, f"This job's request cannot be opened in the wizard: {exc}")
        return redirect(job)
    values["job"]["name"] = clone_name(job.name)
    messages.info(request, f"Cloned from {job.name} with its tuned ranges narrowed to where its best training jobs "
                           f"are; the new job is named {values['job']['name']}. Check the ranges on step 2.")
    return _wizard_view(request, project=project, seed=(values, "job"))
