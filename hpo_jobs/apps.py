from django.apps import AppConfig


class HpoJobsConfig(AppConfig):
    name = "hpo_jobs"
    verbose_name = "HPO jobs"
