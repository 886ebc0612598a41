"""URLs under /projects/<slug>/hpo-jobs/ (the stable ones are listed in DESIGN.md)."""

from django.urls import path, register_converter

from .pages import compare, views
from .wizard import views as wizard
from .converters import NameConverter

register_converter(NameConverter, "name")

app_name = "hpo_jobs"

urlpatterns = [
    path("", views.job_list, name="list"),
    path("create/", wizard.create_job, name="create"),
    path("import/", wizard.import_job, name="import"),
    path("compare/", compare.compare_jobs, name="compare"),
    path("<name:name>/", views.job_detail, name="detail"),
    path("<name:name>/stop/", views.job_stop, name="stop"),
    path("<name:name>/clone/", wizard.clone_job, name="clone"),
    path("<name:name>/clone-narrowed/", wizard.clone_narrowed_job, name="clone_narrowed"),
    path("<name:name>/request.json", views.request_json, name="request_json"),
    path("<name:name>/training-jobs.csv", views.training_jobs_csv, name="training_jobs_csv"),
    path("<name:name>/training-jobs/<name:training_job_name>/", views.training_job_detail, name="training_job"),
    # The parts of a job's page that htmx refreshes in place while the job is active.
    path("<name:name>/parts/header/", views.job_header_part, name="job_header_part"),
    path("<name:name>/parts/overview/", views.job_overview_part, name="job_overview_part"),
    path("<name:name>/parts/training-jobs/", views.training_jobs_part, name="training_jobs_part"),
    path("<name:name>/parts/charts/", views.job_charts_part, name="job_charts_part"),
]
