"""URLs under /projects/<slug>/hpo-jobs/ (the stable ones are listed in DESIGN.md)."""

from django.urls import path

from . import views, wizard

app_name = "hpo_jobs"

urlpatterns = [
    path("", views.job_list, name="list"),
    path("create/", wizard.create_job, name="create"),
    path("import/", wizard.import_job, name="import"),
    path("<str:name>/", views.job_detail, name="detail"),
    path("<str:name>/stop/", views.job_stop, name="stop"),
    path("<str:name>/clone/", wizard.clone_job, name="clone"),
    path("<str:name>/request.json", views.request_json, name="request_json"),
    path("<str:name>/training-jobs.csv", views.training_jobs_csv, name="training_jobs_csv"),
    path("<str:name>/training-jobs/<str:training_job_name>/", views.training_job_detail, name="training_job"),
]
