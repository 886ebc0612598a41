"""A real Celery worker (with embedded beat) whose AWS is stubbed at the seam, for the end-to-end tests.

    python -m tests.stubbed_worker worker -B -P threads -c 2 ...

moto answers create, describe and list of tuning jobs; the two calls moto lacks (a job's training
jobs, stop) are answered by ``FakeSageMaker`` hooked on the same clients. Both live in this
process's memory, so tasks run in threads of this process (``-P threads``), never in forked
children that would each see their own fake AWS.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from moto import mock_aws


def _moto_job_children(fake: Any) -> None:
    """Answer a listing with the one child that moto's describe counts (Completed: 1)."""
    from tests.aws_fakes import FakeTuningJob, child_summary

    def find(name: str) -> FakeTuningJob:
        key = name.lower()
        if key not in fake.jobs:
            job = FakeTuningJob({"HyperParameterTuningJobName": name}, created=fake._tick())
            job.children = [child_summary(name, 1)]
            fake.jobs[key] = job
        return fake.jobs[key]

    fake._find = find


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hpo_portal.settings")
    mock = mock_aws()
    mock.start()  # before any client is made, and for the whole life of the process

    import django

    django.setup()

    from hpo_jobs import aws
    from hpo_portal.celery import app
    from tests.aws_fakes import FakeSageMaker

    fake = FakeSageMaker(operations=("ListTrainingJobsForHyperParameterTuningJob", "StopHyperParameterTuningJob"))
    _moto_job_children(fake)
    # The seam caches its clients per process: the hooked ones are those every task gets.
    fake.attach(aws.client("sagemaker"))
    fake.attach(aws.client("sagemaker", interactive=True))
    try:
        app.worker_main(argv)
    finally:
        mock.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
