"""The create wizard, import and clone (placeholder until the wizard lands)."""

from __future__ import annotations

from django.http import HttpResponse

from projects import access


def _todo(request, project, *args, **kwargs):
    return HttpResponse("Not built yet", status=501)


create_job = access.project_view(access.can_create_jobs)(_todo)
import_job = access.project_view(access.can_create_jobs)(_todo)
clone_job = access.project_view(access.can_create_jobs)(_todo)
