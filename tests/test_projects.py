"""Projects and membership, through the pages."""

from __future__ import annotations

import pytest

from projects.models import Membership, Project

pytestmark = pytest.mark.django_db


def test_any_user_can_create_a_project_and_owns_it(charlie_client, charlie):
    response = charlie_client.post("/projects/new/", {"name": "Vision Team", "slug": "", "description": "CV"})
    assert response.status_code == 302
    project = Project.objects.get(slug="vision-team")
    assert Membership.objects.get(project=project, user=charlie).role == "owner"
    assert b"Vision Team" in charlie_client.get("/projects/").content


def test_it_rejects_a_taken_slug(charlie_client, project):
    response = charlie_client.post("/projects/new/", {"name": "Other", "slug": "demo"})
    assert response.status_code == 200
    assert "is taken" in response.content.decode()
    assert Project.objects.count() == 1


def test_owner_adds_a_member_by_username(alice_client, project, charlie):
    response = alice_client.post(f"/projects/{project.slug}/members/add/", {"username": "charlie", "role": "member"})
    assert response.status_code == 302
    assert Membership.objects.get(project=project, user=charlie).role == "member"
    assert alice_client.get(f"/projects/{project.slug}/").status_code == 200


def test_it_rejects_an_unknown_username_next_to_the_field(alice_client, project):
    response = alice_client.post(f"/projects/{project.slug}/members/add/", {"username": "nobody", "role": "member"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "No user is called “nobody”." in html
    assert 'class="field has-error"' in html
    assert project.memberships.count() == 2


def test_it_rejects_adding_someone_twice(alice_client, project):
    response = alice_client.post(f"/projects/{project.slug}/members/add/", {"username": "bob", "role": "owner"})
    assert response.status_code == 400
    assert "already a member" in response.content.decode()
    assert project.memberships.get(user__username="bob").role == "member"


def test_owner_changes_a_role(alice_client, project, bob):
    alice_client.post(f"/projects/{project.slug}/members/{bob.pk}/role/", {"role": "owner"})
    assert Membership.objects.get(project=project, user=bob).role == "owner"


def test_the_last_owner_cannot_be_removed(alice_client, project, alice):
    response = alice_client.post(f"/projects/{project.slug}/members/{alice.pk}/remove/", follow=True)
    assert "last owner cannot be removed" in response.content.decode()
    assert Membership.objects.filter(project=project, user=alice).exists()


def test_the_last_owner_cannot_step_down(alice_client, project, alice):
    response = alice_client.post(f"/projects/{project.slug}/members/{alice.pk}/role/", {"role": "member"}, follow=True)
    assert "at least one owner" in response.content.decode()
    assert Membership.objects.get(project=project, user=alice).role == "owner"


def test_an_owner_can_leave_when_another_owner_remains(alice_client, project, alice, bob):
    Membership.objects.filter(project=project, user=bob).update(role="owner")
    response = alice_client.post(f"/projects/{project.slug}/members/{alice.pk}/remove/")
    assert response.status_code == 302 and response["Location"] == "/projects/"
    assert not Membership.objects.filter(project=project, user=alice).exists()


def test_a_member_cannot_manage_membership(bob_client, project, alice, charlie):
    assert bob_client.post(f"/projects/{project.slug}/members/add/", {"username": "charlie"}).status_code == 403
    assert bob_client.post(f"/projects/{project.slug}/members/{alice.pk}/role/", {"role": "member"}).status_code == 403
    assert bob_client.post(f"/projects/{project.slug}/members/{alice.pk}/remove/").status_code == 403
    assert project.memberships.count() == 2
    assert Membership.objects.get(project=project, user=alice).role == "owner"


def test_a_member_does_not_see_management_controls(bob_client, project):
    html = bob_client.get(f"/projects/{project.slug}/").content.decode()
    assert "Add a member" not in html
    assert "Remove" not in html


def test_an_outsider_cannot_manage_membership(charlie_client, project, charlie):
    response = charlie_client.post(f"/projects/{project.slug}/members/add/", {"username": "charlie"})
    assert response.status_code == 404
    assert not Membership.objects.filter(user=charlie).exists()


def test_project_names_with_markup_are_shown_as_text(alice_client, alice):
    project = Project.objects.create(name="<script>alert(1)</script>", slug="xss")
    Membership.objects.create(project=project, user=alice, role="owner")
    html = alice_client.get("/projects/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_list_counts_every_member_and_job(bob_client, project, make_job):
    make_job("one")
    make_job("two")
    html = bob_client.get("/projects/").content.decode()
    assert "2 HPO jobs · 2 members" in html
