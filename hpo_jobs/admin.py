from django.contrib import admin

from .models import EngineHealth, HpoJob, SiteSettings, TrainingJob


@admin.register(HpoJob)
class HpoJobAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "status", "backend", "created_by", "created_at"]
    list_filter = ["status", "backend"]
    search_fields = ["name", "project__slug"]
    raw_id_fields = ["project", "created_by"]
    # The request is the exact one sent to the engine, and the mirrored fields are the engine's
    # answers: editing either would make the pages lie about the job.
    readonly_fields = ["name", "backend", "request", "strategy", "arn", "engine_status", "last_describe",
                       "best_training_job", "overall_best_training_job", "training_job_status_counters",
                       "objective_status_counters", "completion_details"]


@admin.register(TrainingJob)
class TrainingJobAdmin(admin.ModelAdmin):
    list_display = ["name", "hpo_job", "status", "objective_value"]
    list_filter = ["status"]
    search_fields = ["name", "hpo_job__name"]
    raw_id_fields = ["hpo_job"]


@admin.register(SiteSettings)
class SiteSettingsAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return not SiteSettings.objects.exists()


@admin.register(EngineHealth)
class EngineHealthAdmin(admin.ModelAdmin):
    list_display = ["backend", "ok", "detail", "checked_at"]
    readonly_fields = ["backend", "ok", "detail", "checked_at"]

    def has_add_permission(self, request):
        return False  # written by the workers only
