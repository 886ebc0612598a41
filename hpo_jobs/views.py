"""Job pages (placeholder until the pages land): list, detail, stop, exports, training job."""

from __future__ import annotations

from django.http import HttpResponse

from projects import access


def _todo(request, project, *args, **kwargs):
    return HttpResponse("Not built yet", status=501)


job_list = access.project_view()(_todo)
job_detail = access.project_view()(_todo)
job_stop = access.project_view()(_todo)
request_json = access.project_view()(_todo)
training_jobs_csv = access.project_view()(_todo)
training_job_detail = access.project_view()(_todo)
