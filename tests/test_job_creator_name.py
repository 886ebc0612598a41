"""Each job's creator's name (HpoJob.creator_name), which the job list shows and sorts by through an
index: the database keeps it, through every way a job or a user is written, on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db

URL = "/projects/demo/hpo-jobs/"


def names(project) -> dict[str, str | None]:
    return dict(project.hpo_jobs.values_list("name", "creator_name"))


def creators_in(response) -> list[tuple[str, str]]:
    """(job, creator) of each row of the list, in its order."""
    return re.findall(r'<tr data-job="([^"]*)".*?<td>([^<]*)</td><td class="time-cell">', response.content.decode(),
                      re.S)


def test_the_name_follows_every_kind_of_write(make_job, project, alice, bob, charlie):
    from django.contrib.auth import get_user_model

    from hpo_jobs.models import HpoJob

    first = make_job("by-alice", created_by=alice)  # a save
    make_job("by-bob", created_by=bob)
    HpoJob.objects.bulk_create([HpoJob(project=project, name="bulk", created_by=charlie, backend="local",
                                       request={}, strategy="Random", status="Pending")])
    assert names(project) == {"by-alice": "alice", "by-bob": "bob", "bulk": "charlie"}

    first.created_by = bob
    first.save()  # a new creator
    HpoJob.objects.filter(name="bulk").update(created_by=alice)  # through a QuerySet.update
    HpoJob.objects.filter(name="by-bob").update(creator_name="someone else")  # a write of the name itself
    assert names(project) == {"by-alice": "bob", "by-bob": "bob", "bulk": "alice"}

    bob.username = "robert"
    bob.save()  # a rename renames every job of theirs
    first.refresh_from_db()
    first.save()  # a save of an instance that holds no name (never written by the portal) keeps it
    assert names(project) == {"by-alice": "robert", "by-bob": "robert", "bulk": "alice"}

    get_user_model().objects.filter(pk=alice.pk).delete()  # a user's delete: the job keeps no creator
    assert names(project) == {"by-alice": "robert", "by-bob": "robert", "bulk": None}


def test_the_list_shows_and_sorts_by_the_creators_name(alice_client, make_job, alice, bob, charlie):
    make_job("one", created_by=charlie)
    make_job("two", created_by=alice)
    make_job("three", created_by=bob)
    make_job("four", created_by=alice)
    expected = [("four", "alice"), ("two", "alice"), ("three", "bob"), ("one", "charlie")]  # newest first in a tie
    assert creators_in(alice_client.get(URL, {"sort": "creator"})) == expected
    assert creators_in(alice_client.get(URL, {"sort": "-creator"})) == [
        ("one", "charlie"), ("three", "bob"), ("four", "alice"), ("two", "alice")]
    charlie.username = "aaron"
    charlie.save()
    assert creators_in(alice_client.get(URL, {"sort": "creator"}))[0] == ("one", "aaron")
    api = alice_client.get("/api/v1/projects/demo/jobs/", {"sort": "creator"}).json()
    assert [(row["name"], row["created_by"]) for row in api["results"]] == [
        ("one", "aaron"), ("four", "alice"), ("two", "alice"), ("three", "bob")]
