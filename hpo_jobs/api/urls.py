"""URLs under /api/v1/."""

from csp.decorators import csp_update
from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

import hpo_jobs.urls  # noqa: F401  (registers the "name" converter the routes below use)

from . import views

app_name = "api"

JOB = "projects/<name:slug>/jobs/<name:name>/"

urlpatterns = [
    path("projects/", views.ProjectList.as_view(), name="projects"),
    path("projects/<name:slug>/jobs/", views.JobList.as_view(), name="jobs"),
    path(JOB, views.JobDetail.as_view(), name="job"),
    path(JOB + "stop/", views.JobStop.as_view(), name="job_stop"),
    path(JOB + "clone/", views.JobClone.as_view(), name="job_clone"),
    path(JOB + "request/", views.JobRequest.as_view(), name="job_request"),
    path(JOB + "training-jobs/", views.TrainingJobList.as_view(), name="training_jobs"),
    path(JOB + "training-jobs.csv", views.TrainingJobsCSV.as_view(), name="training_jobs_csv"),
    path(JOB + "training-jobs/<name:training_job_name>/", views.TrainingJobDetail.as_view(), name="training_job"),
    path("catalogue/", views.Catalogue.as_view(), name="catalogue"),
    path("schema/", SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]), name="schema"),
    # The split view serves its start-up script as a file of its own, for the portal's CSP; Swagger UI
    # draws its icons from data: images, allowed on this page only.
    path("docs/", csp_update({"img-src": ["data:"]})(SpectacularSwaggerSplitView.as_view(
        url_name="api:schema", template_name="api/docs.html", authentication_classes=[], permission_classes=[],
        http_method_names=["get", "head"],  # a page: DRF's OPTIONS answer cannot be drawn by its renderer
    )), name="docs"),
    re_path(r"^.*$", views.NotFound.as_view()),
]
