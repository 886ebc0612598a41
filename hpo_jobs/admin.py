"""The Django admin: jobs and their training jobs to read, site settings and engine health.

A job's every field is state that only ``hpo_jobs.services`` changes, with compare-and-set updates
(the status and counters, the best training job, the engine's answers, the launch, sync and stop
bookkeeping, and the exact request sent). Saving an admin form would write the whole row back as it
was read, over what a worker wrote meanwhile, so jobs and training jobs are read-only here.
"""

from __future__ import annotations

from django.contrib import admin

from .models import EngineHealth, HpoJob, SiteSettings, TrainingJob


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the admin shows and never writes (it may still delete them)."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(HpoJob)
class HpoJobAdmin(ReadOnlyAdmin):
    list_display = ["name", "project", "status", "backend", "created_by", "created_at"]
    list_filter = ["status", "backend"]
    search_fields = ["name", "project__slug"]
    raw_id_fields = ["project", "created_by"]


@admin.register(TrainingJob)
class TrainingJobAdmin(ReadOnlyAdmin):
    list_display = ["name", "hpo_job", "status", "objective_value"]
    list_filter = ["status"]
    search_fields = ["name", "hpo_job__name"]
    raw_id_fields = ["hpo_job"]


@admin.register(SiteSettings)
class SiteSettingsAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return not SiteSettings.objects.exists()


@admin.register(EngineHealth)
class EngineHealthAdmin(admin.ModelAdmin):
    list_display = ["backend", "ok", "detail", "checked_at"]
    readonly_fields = ["backend", "ok", "detail", "checked_at"]

    def has_add_permission(self, request) -> bool:
        return False  # written by the workers only
