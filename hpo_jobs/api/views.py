"""The JSON API's views: thin over the pages' queries, the import page's rules, the access rules
and the services, which hold every decision; these only shape the answers."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any
from urllib.parse import quote, urlencode

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery
from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, generics, renderers, status
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import AllowAny
from rest_framework.utils.urls import replace_query_param
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from projects import access
from projects.models import Membership, Project

from hpo_jobs import services
from hpo_jobs.backends import get_backend
from hpo_jobs.models import HpoJob
from hpo_jobs.pages import keyset, presenters
from hpo_jobs.pages import views as pages
from hpo_jobs.sagemaker import catalogue
from hpo_jobs.wizard import convert
from hpo_jobs.wizard import views as wizard

from . import problems, serializers as s
from .formats import CSVRenderer, RequestParser
from .models import IdempotencyKey

JOBS_PAGE_SIZE = 20
JOBS_PAGE_SIZE_MAX = 100

def _problems(*codes: int) -> dict:
    """The problem responses a route may answer, for its schema."""
    return {(code, "application/problem+json"): s.ProblemSerializer for code in codes}


READ_ERRORS = _problems(401, 403, 404)


# ---- helpers ----------------------------------------------------------------------------------------
def _job(request: Request, slug: str, name: str) -> tuple[Project, HpoJob]:
    project = access.get_project(request, slug)  # 404 for outsiders, as on the pages
    return project, pages.get_job(project, name)


def _abs(request: Request, path: str) -> str:
    return request.build_absolute_uri(path)


def _job_url(request: Request, project: Project, name: str) -> str:
    return _abs(request, reverse("api:job", args=[project.slug, name]))


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _best(request: Request, project: Project, job: HpoJob, best: dict[str, Any] | None) -> dict[str, Any] | None:
    if not best:
        return None
    url = None
    if best["url"]:
        owner = best["tuning_job"] if best["from_parent"] else job.name
        url = _abs(request, reverse("api:training_job", args=[project.slug, owner, best["name"]]))
    return {
        **{key: best[key] for key in ("name", "tuning_job", "from_parent", "definition", "status", "objective_status",
                                      "metric", "type", "created", "started", "ended")},
        "value": _float(best["value"]),
        "tuned_hyperparameters": {str(k): str(v) for k, v in best["tuned"]},
        "static_hyperparameters": {str(k): str(v) for k, v in best["static"]},
        "duration_seconds": best["duration"].total_seconds() if best["duration"] is not None else None,
        "url": url,
    }


def _time_left(estimate) -> dict[str, Any] | None:
    if estimate is None:
        return None
    return {"seconds": estimate.seconds, "low_seconds": estimate.low_s, "high_seconds": estimate.high_s,
            "ends_at": estimate.ends_at, "basis": estimate.basis}


def _usage(used) -> dict[str, Any]:
    return {
        "instance_hours": used.total_hours,
        "cost_usd": used.total_cost,
        "by_instance": [{"instance_type": r["type"], "instance_count": r["count"], "training_jobs": r["jobs"],
                         "instance_hours": r["hours"], "price_per_hour_usd": r["price"], "cost_usd": r["cost"]}
                        for r in used.rows],
    }


def job_detail_data(request: Request, project: Project, job: HpoJob) -> dict[str, Any]:
    """A job as the API shows it: its page's overview data and its request."""
    overview = pages.job_overview(project, job)
    base = reverse("api:job", args=[project.slug, job.name])
    return {
        "name": job.name,
        "project": project.slug,
        "status": job.status,
        "active": job.is_active,
        "engine_status": job.engine_status,
        "failure_reason": job.failure_reason,
        "strategy": job.strategy,
        "backend": job.backend,
        "created_by": job.created_by.get_username() if job.created_by else None,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "ended_at": job.ended_at,
        "objective": {"metric": overview["objective"].metric, "type": overview["objective"].type},
        "progress": overview["progress"],
        "counters": [{k: c[k] for k in ("key", "label", "value")} for c in overview["counters"]],
        "training_job_count": overview["child_total"],
        "best_training_job": _best(request, project, job, overview["best"]),
        "best_estimated": overview["best_estimated"],
        "overall_best_training_job": _best(request, project, job, overview["overall_best"]),
        "can_stop": job.is_stoppable and access.can_stop_job(request.user, job),
        # What the job page's definitions and configuration tabs show, as the same plain data.
        "configuration": presenters.present_request(job.request),
        "request": job.request,
        "consumed_runtime_seconds": overview["runtime_s"],
        "time_left": _time_left(overview["time_left"]),
        "usage": _usage(overview["usage"]),
        "links": {
            "self": _abs(request, base),
            "web": _abs(request, job.get_absolute_url()),
            "training_jobs": _abs(request, reverse("api:training_jobs", args=[project.slug, job.name])),
            "training_jobs_csv": _abs(request, reverse("api:training_jobs_csv", args=[project.slug, job.name])),
            "request": _abs(request, reverse("api:job_request", args=[project.slug, job.name])),
            "stop": _abs(request, reverse("api:job_stop", args=[project.slug, job.name])),
            "clone": _abs(request, reverse("api:job_clone", args=[project.slug, job.name])),
        },
    }


# ---- projects ---------------------------------------------------------------------------------------
class ProjectList(APIView):
    """The projects I belong to (every project for staff)."""

    @extend_schema(responses={200: s.ProjectSerializer(many=True), **_problems(401, 403)}, operation_id="projects_list")
    def get(self, request: Request) -> Response:
        role = Membership.objects.filter(project=OuterRef("pk"), user=request.user).values("role")[:1]
        projects = access.visible_projects(request.user).annotate(my_role=Subquery(role)).order_by("name", "id")
        data = [{
            "slug": p.slug, "name": p.name, "description": p.description, "role": p.my_role,
            "can_create_jobs": p.my_role is not None,
            "jobs_url": _abs(request, reverse("api:jobs", args=[p.slug])),
            "web_url": _abs(request, p.get_absolute_url()),
        } for p in projects]
        return Response(s.ProjectSerializer(data, many=True).data)


# ---- jobs -------------------------------------------------------------------------------------------
def _page_number(text: str | None) -> int:
    try:
        return max(1, int(text or 1))
    except ValueError:
        return 1


def _request_digest(body: dict[str, Any]) -> str:
    canonical = {k: v for k, v in body.items() if k != "client_token"}
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _body_path(path: str) -> str:
    """A validator's path into the request, as a path into the API body."""
    if path in ("", "Request", "(request)"):
        return "request"
    return f"request{path}" if path.startswith("[") else f"request.{path}"


class JobList(APIView):
    """A project's jobs (filter, search, sort, pages), and create a job from a request."""

    parser_classes = [RequestParser]

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=list(pages.JOB_STATUS_FILTERS),
                             description="One status, or `active` (Pending, In progress, Stopping)."),
            OpenApiParameter("q", str, description="Part of the job name (case-insensitive)."),
            OpenApiParameter("sort", str, enum=list(pages.JOB_SORTS),
                             description="A column, `-column` for the other way; newest first by default."),
            OpenApiParameter("page", int, description="The page number (from 1)."),
            OpenApiParameter("page_size", int, description=f"Jobs per page, 1 to {JOBS_PAGE_SIZE_MAX} (default {JOBS_PAGE_SIZE})."),
        ],
        responses={200: s.JobPageSerializer, **READ_ERRORS},
        operation_id="jobs_list",
    )
    def get(self, request: Request, slug: str) -> Response:
        project = access.get_project(request, slug)
        listing = pages.list_jobs(project, request.query_params.get("q"), request.query_params.get("status"),
                                  request.query_params.get("sort"))
        size = min(JOBS_PAGE_SIZE_MAX, max(1, _page_number(request.query_params.get("page_size") or str(JOBS_PAGE_SIZE))))
        if listing.count is not None:
            paginator = pages.TwoEndedPaginator(listing.rows, size, ids=listing.ids, by_id=listing.by_id)
            paginator.count = listing.count  # no COUNT(*) query
        else:
            paginator = Paginator(listing.rows, size)
        page = paginator.get_page(_page_number(request.query_params.get("page")))
        detail_base = reverse("api:job", args=[project.slug, "__JOB__"])
        web_base = reverse("hpo_jobs:detail", args=[project.slug, "__JOB__"])

        def link(number: int) -> str:
            params = {k: v for k, v in request.query_params.items() if k in ("q", "status", "sort", "page_size")}
            return _abs(request, f"{request.path}?{urlencode({**params, 'page': number})}")

        results = [{
            "name": row["name"], "status": row["status"], "strategy": row["strategy"], "backend": row["backend"],
            "created_by": row["creator_name"], "created_at": row["created_at"],
            "started_at": row["started_at"], "ended_at": row["ended_at"], "completed_count": row["completed_count"],
            "max_training_jobs": row["max_training_jobs"], "best_objective_value": _float(row["best_objective_value"]),
            "objective_metric": row["objective_metric"],
            "url": _abs(request, detail_base.replace("__JOB__", quote(row["name"], safe=""))),
            "web_url": _abs(request, web_base.replace("__JOB__", quote(row["name"], safe=""))),
        } for row in page.object_list]
        return Response(s.JobPageSerializer({
            "count": paginator.count, "page": page.number, "pages": paginator.num_pages,
            "next": link(page.next_page_number()) if page.has_next() else None,
            "previous": link(page.previous_page_number()) if page.has_previous() else None,
            "status_counts": listing.status_counts,
            "results": results,
        }).data)

    @extend_schema(
        request=s.CreateJobSerializer,
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER,
                                     description="A key of your choice: a create retried with the same key "
                                                 "makes no second job (a different body with it is refused).")],
        responses={201: s.JobDetailSerializer, **_problems(400, 401, 403, 404, 409, 422)},
        operation_id="jobs_create",
    )
    def post(self, request: Request, slug: str) -> Response:
        project = access.get_project(request, slug)
        if not access.can_create_jobs(request.user, project):
            raise PermissionDenied
        body = request.data
        form = s.CreateJobSerializer(data=body)
        form.is_valid(raise_exception=True)
        if not isinstance(form.validated_data["request"], dict):
            raise problems.refused([("request", "The request must be a JSON object ({ ... }).")])
        key = (request.headers.get("Idempotency-Key") or form.validated_data.get("client_token") or "").strip()[:255]
        digest = _request_digest(body)
        if key:
            replay = self._replay(request, project, key, digest)
            if replay is not None:
                return replay

        name = (form.validated_data.get("name") or "").strip()
        values, found = wizard.check_import(project, request.user, form.validated_data["request"], name)
        if found:
            raise problems.refused([(_body_path(path), message) for path, message in found])
        built = convert.build_request(values, project, request.user)
        try:
            with transaction.atomic():
                job = services.create_job(project, request.user, built)
                if key:
                    IdempotencyKey.objects.create(project=project, user=request.user, key=key, body_digest=digest, job=job)
        except (services.JobNameTaken, IntegrityError) as exc:
            # A retry racing its first attempt: that one made the job.
            replay = self._replay(request, project, key, digest) if key else None
            if replay is not None:
                return replay
            if isinstance(exc, IntegrityError):
                raise
            raise problems.Problem(status.HTTP_409_CONFLICT, str(exc), type=problems.NAME_TAKEN,
                                   errors=[{"path": "request.HyperParameterTuningJobName", "message": str(exc)}]) from None
        job = pages.get_job(project, job.name)
        return Response(s.JobDetailSerializer(job_detail_data(request, project, job)).data,
                        status=status.HTTP_201_CREATED, headers={"Location": _job_url(request, project, job.name)})

    def _replay(self, request: Request, project: Project, key: str, digest: str) -> Response | None:
        stored = IdempotencyKey.objects.filter(project=project, user=request.user, key=key).first()
        if stored is None:
            return None
        if stored.body_digest != digest:
            raise problems.Problem(status.HTTP_409_CONFLICT,
                                   "This Idempotency-Key was already used with a different request; "
                                   "use a new key for a new job.", type=problems.IDEMPOTENCY_CONFLICT)
        job = HpoJob.objects.select_related("created_by").get(pk=stored.job_id)
        job.project = project
        return Response(s.JobDetailSerializer(job_detail_data(request, project, job)).data,
                        status=status.HTTP_201_CREATED, headers={"Location": _job_url(request, project, job.name)})


class JobDetail(APIView):
    """A job: status, counters, progress, best and overall best training job, and its request."""

    @extend_schema(responses={200: s.JobDetailSerializer, **READ_ERRORS}, operation_id="jobs_read")
    def get(self, request: Request, slug: str, name: str) -> Response:
        project, job = _job(request, slug, name)
        return Response(s.JobDetailSerializer(job_detail_data(request, project, job)).data)


class JobStop(APIView):
    """Stop a job: its creator, a project owner or staff (as on its page)."""

    @extend_schema(request=None, responses={202: s.JobDetailSerializer, **_problems(401, 403, 404, 409)},
                   operation_id="jobs_stop")
    def post(self, request: Request, slug: str, name: str) -> Response:
        project, job = _job(request, slug, name)
        if not access.can_stop_job(request.user, job):
            raise PermissionDenied
        if job.status != HpoJob.Status.STOPPING and not services.request_stop(job, request.user):
            job.refresh_from_db()
            raise problems.Problem(status.HTTP_409_CONFLICT,
                                   f"“{job.name}” has already ended ({job.get_status_display()}): nothing to stop.",
                                   type=problems.JOB_ENDED)
        job = pages.get_job(project, job.name)
        return Response(s.JobDetailSerializer(job_detail_data(request, project, job)).data,
                        status=status.HTTP_202_ACCEPTED)


class JobClone(APIView):
    """A new request made from a job's, under a free name: edit it, then create it."""

    @extend_schema(responses={200: s.CloneSerializer, **_problems(401, 403, 404, 422)}, operation_id="jobs_clone")
    def get(self, request: Request, slug: str, name: str) -> Response:
        project, job = _job(request, slug, name)
        if not access.can_create_jobs(request.user, project):
            raise PermissionDenied
        try:
            values = convert.request_to_wizard_data(job.request)
        except convert.UnsupportedRequest as exc:
            raise problems.refused([(_body_path(p), m) for p, m in exc.problems],
                                   "This job's request cannot be cloned.") from None
        values["job"]["name"] = wizard.clone_name(job.name)
        return Response({"name": values["job"]["name"],
                         "request": convert.build_request(values, project, request.user)})


class JobRequest(APIView):
    """The exact CreateHyperParameterTuningJob request the job sent."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT, **READ_ERRORS}, operation_id="jobs_request")
    def get(self, request: Request, slug: str, name: str) -> Response:
        _project, job = _job(request, slug, name)
        return Response(job.request)


class TrainingJobCursor(CursorPagination):
    """Seek pages over a job's training jobs, in the order of the page's table (hpo_jobs.pages.keyset):
    a cursor is the keys of the row it follows (or precedes), so a page is one indexed query at any
    depth, and rows stored meanwhile never repeat or skip one. DRF's page size and links."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page_size = self.get_page_size(request)
        self.base_url = request.build_absolute_uri()
        token = request.query_params.get(self.cursor_query_param) or ""
        direction, _, keys = token.partition(".")  # "n.<keys>": the page after; "p.<keys>": before
        page = keyset.paginate(queryset, view.order, self.page_size, tag=view.sort,
                               after=keys if direction == "n" else None, before=keys if direction == "p" else None)
        if token and (page.cursor_ignored or direction not in ("n", "p")):
            raise exceptions.NotFound(self.invalid_cursor_message)
        self.page = page
        return page.object_list

    def _link(self, prefix: str, keys: str | None) -> str | None:
        return replace_query_param(self.base_url, self.cursor_query_param, f"{prefix}.{keys}") if keys else None

    def get_next_link(self):
        return self._link("n", self.page.next_cursor)

    def get_previous_link(self):
        return self._link("p", self.page.previous_cursor)


# The sorts the API offers: the page's table's, those served by an index.
TRAINING_JOB_SORTS = ("objective", "-objective", "created", "-created", "name", "-name")


class TrainingJobList(generics.ListAPIView):
    """A job's training jobs: sorted, filtered, in cursor pages."""

    serializer_class = s.TrainingJobSerializer
    pagination_class = TrainingJobCursor

    @extend_schema(
        parameters=[
            OpenApiParameter("sort", str, enum=list(TRAINING_JOB_SORTS), description="Best objective first by default."),
            OpenApiParameter("status", str, description="Only training jobs with this status (InProgress, Completed, …)."),
            OpenApiParameter("definition", str, description="Only training jobs of this definition."),
        ],
        responses={200: s.TrainingJobSerializer(many=True), **READ_ERRORS},
        operation_id="training_jobs_list",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        project, job = _job(self.request, self.kwargs["slug"], self.kwargs["name"])
        self.project, self.job = project, job
        params = self.request.query_params
        objective = pages._job_objective(job)
        default = "-objective" if objective.maximize else "objective"
        self.sort = params.get("sort") if params.get("sort") in TRAINING_JOB_SORTS else default
        self.order = pages.TRAINING_JOB_SORTS[self.sort]
        rows = job.training_jobs.all()
        if params.get("status"):
            rows = rows.filter(status=params["status"].replace("\x00", ""))
        if params.get("definition"):
            rows = rows.filter(definition_name=params["definition"].replace("\x00", ""))
        return rows

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if hasattr(self, "job"):
            context["training_job_url"] = _abs(self.request, reverse(
                "api:training_job", args=[self.project.slug, self.job.name, "__TJ__"]))
        return context


class TrainingJobsCSV(APIView):
    """Every training job of a job as CSV, one row each, a column per hyperparameter (as the page's download)."""

    renderer_classes = [CSVRenderer, renderers.JSONRenderer]

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR, **READ_ERRORS}, operation_id="training_jobs_csv")
    def get(self, request: Request, slug: str, name: str) -> HttpResponse:
        _project, job = _job(request, slug, name)
        return pages.training_jobs_csv_response(job)


class TrainingJobDetail(APIView):
    """One training job, with its final metrics and the end of its log (read from its engine, as its page does)."""

    @extend_schema(responses={200: s.TrainingJobDetailSerializer, **READ_ERRORS}, operation_id="training_jobs_read")
    def get(self, request: Request, slug: str, name: str, training_job_name: str) -> Response:
        project, job = _job(request, slug, name)
        training_job = pages.get_training_job(job, training_job_name)
        reading = pages.read_training_job(job, training_job)
        training_job.is_best = (job.best_training_job or {}).get("TrainingJobName") == training_job.name
        training_job.final_metrics = [m for m in reading.final_metrics if _float(m["value"]) is not None]
        training_job.metric_error = reading.metric_error
        training_job.log_tail = reading.log[-pages.LOG_SHOW_CHARS:]
        training_job.log_truncated = len(reading.log) > pages.LOG_SHOW_CHARS
        training_job.log_error = reading.log_error
        context = {"training_job_url": _abs(request, reverse("api:training_job", args=[project.slug, job.name, "__TJ__"]))}
        return Response(s.TrainingJobDetailSerializer(training_job, context=context).data)


class Catalogue(APIView):
    """The built-in algorithms, with their hyperparameters and objective metrics, for the engine in use."""

    @extend_schema(responses={200: s.CatalogueSerializer, **_problems(401, 403)}, operation_id="catalogue")
    def get(self, request: Request) -> Response:
        engine, region = get_backend(), settings.AWS_REGION
        backend = engine.name
        algorithms = []
        for algorithm in catalogue.ALGORITHMS.values():
            try:
                image = algorithm.image_uri(region)
            except catalogue.UnknownRegionError:
                image = None
            algorithms.append({
                "key": algorithm.key, "display_name": algorithm.display_name, "description": algorithm.description,
                "runnable": engine.capabilities.runs_builtin(algorithm),
                "image_uri": image, "default_input_mode": algorithm.default_input_mode,
                "supports_early_stopping": algorithm.supports_early_stopping,
                "objective_metrics": [{"name": m.name, "direction": m.direction} for m in algorithm.objective_metrics],
                "hyperparameters": [{
                    "name": hp.name, "types": list(hp.allowed_types), "default": hp.default,
                    "min_value": hp.min_value, "max_value": hp.max_value, "options": list(hp.options),
                    "scaling": hp.scaling, "required": hp.required, "value_type": hp.value_type,
                    "description": hp.description,
                } for hp in algorithm.hyperparameters],
            })
        return Response(s.CatalogueSerializer({"backend": backend, "region": region, "algorithms": algorithms}).data)


class NotFound(APIView):
    """Any other address under /api/v1/: a 404 problem, not an HTML page."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    schema = None

    def get(self, request, *args, **kwargs):
        raise exceptions.NotFound("No such API route.")

    post = put = patch = delete = options = get
