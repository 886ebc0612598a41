"""Each project's job counts by status (ProjectJobCount), which the job list reads instead of counting
its jobs: the database keeps them, through every way a job is written, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from django.db.models import Count

pytestmark = pytest.mark.django_db


def stored(project) -> dict[str, int]:
    return {status: n for status, n in project.job_counts.values_list("status", "n") if n}


def counted(project) -> dict[str, int]:
    return dict(project.hpo_jobs.order_by().values_list("status").annotate(n=Count("*")))


def test_the_counts_follow_every_kind_of_write(make_job, project, alice):
    from hpo_jobs.models import HpoJob, ProjectJobCount
    from projects.models import Project

    other = Project.objects.create(name="Other", slug="other")
    jobs = [make_job(f"job-{i}", status="InProgress") for i in range(5)]
    assert stored(project) == counted(project) == {"InProgress": 5}

    jobs[0].status = "Completed"
    jobs[0].save()  # a save
    jobs[1].save()  # a save that changes no status
    HpoJob.objects.filter(pk__in=[jobs[2].pk, jobs[3].pk]).update(status="Failed")  # a QuerySet.update
    HpoJob.objects.filter(pk=jobs[4].pk).update(project=other, status="Stopped")  # a move, with a new status
    assert stored(project) == counted(project) == {"Completed": 1, "InProgress": 1, "Failed": 2}
    assert stored(other) == counted(other) == {"Stopped": 1}

    HpoJob.objects.bulk_create([HpoJob(project=project, name=f"bulk-{i}", created_by=alice, backend="local",
                                       request={}, strategy="Random", status="Pending") for i in range(3)])
    jobs[0].delete()
    HpoJob.objects.filter(name__startswith="bulk-").exclude(name="bulk-0").delete()
    assert stored(project) == counted(project) == {"InProgress": 1, "Failed": 2, "Pending": 1}

    other.delete()  # a cascade: the jobs and their counts go, in whichever order
    assert not ProjectJobCount.objects.filter(project_id=other.pk).exists()
    project.delete()
    assert not ProjectJobCount.objects.exists()


def test_a_write_that_rolls_back_leaves_the_counts_as_they_were(make_job, project):
    from django.db import transaction

    job = make_job("kept", status="InProgress")
    with pytest.raises(RuntimeError), transaction.atomic():
        job.status = "Completed"
        job.save()
        make_job("never", status="Failed")
        raise RuntimeError
    assert stored(project) == counted(project) == {"InProgress": 1}


def test_the_job_list_reads_the_counts_not_the_jobs(alice_client, make_job, project):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for i in range(3):
        make_job(f"job-{i}", status=("Completed", "Failed", "Completed")[i])
    with CaptureQueriesContext(connection) as captured:
        html = alice_client.get("/projects/demo/hpo-jobs/").content.decode()
    assert "Completed (2)" in html and "Failed (1)" in html and "3 jobs" in html
    grouped = [q["sql"] for q in captured if "GROUP BY" in q["sql"] and "hpo_jobs_hpojob" in q["sql"]]
    assert not grouped  # no count over the jobs' rows
