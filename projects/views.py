"""Project pages: the list, a project's page, and membership management."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from hpo_jobs.models import HpoJob

from . import access
from .forms import AddMemberForm, ProjectForm, RoleForm
from .models import Membership, Project


@require_safe
def project_list(request: HttpRequest) -> HttpResponse:
    def count_of(model, field: str = "project"):
        counted = model.objects.filter(**{field: OuterRef("pk")}).order_by().values(field)
        counted = counted.annotate(n=Count("pk")).values("n")
        return Coalesce(Subquery(counted, output_field=IntegerField()), 0)

    projects = (
        access.visible_projects(request.user)
        .annotate(job_count=count_of(HpoJob), member_count=count_of(Membership))
        .order_by("name")
    )
    return render(request, "projects/project_list.html", {"projects": projects})


@require_http_methods(["GET", "HEAD", "POST"])
def project_create(request: HttpRequest) -> HttpResponse:
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            project = form.save()
            Membership.objects.create(project=project, user=request.user, role=Membership.Role.OWNER)
        messages.success(request, f"Project “{project.name}” created. You are its owner.")
        return redirect(project)
    return render(request, "projects/project_form.html", {"form": form})


def _render_project(request: HttpRequest, project: Project, add_form: AddMemberForm, status: int = 200) -> HttpResponse:
    return render(
        request,
        "projects/project_detail.html",
        {
            "project": project,
            "memberships": project.memberships.select_related("user"),
            "can_manage": access.can_manage_members(request.user, project),
            "add_form": add_form,
            "recent_jobs": project.hpo_jobs.select_related("created_by")[:5],
            "job_count": project.hpo_jobs.count(),
            "can_create": access.can_create_jobs(request.user, project),
        },
        status=status,
    )


@require_safe
@access.project_view()
def project_detail(request: HttpRequest, project: Project) -> HttpResponse:
    return _render_project(request, project, AddMemberForm(project=project))


@require_POST
@access.project_view(access.can_manage_members)
def member_add(request: HttpRequest, project: Project) -> HttpResponse:
    form = AddMemberForm(request.POST, project=project)
    if form.is_valid():
        user = form.cleaned_data["username"]
        Membership.objects.create(project=project, user=user, role=form.cleaned_data["role"])
        messages.success(request, f"{user.username} added as {form.cleaned_data['role']}.")
        return redirect(project)
    return _render_project(request, project, form, status=400)


# A user id in an address is any run of digits; the database holds ids up to this.
MAX_ID = 2**63 - 1


def _membership(project: Project, user_id: int) -> Membership:
    """The user's membership of the project, locked for the change; 404 when there is none."""
    if user_id > MAX_ID:
        raise Http404("No such member")
    return get_object_or_404(Membership.objects.select_for_update(), project=project, user_id=user_id)


def _owner_count_after(project: Project, membership: Membership, new_role: str | None) -> int:
    owners = project.memberships.select_for_update().filter(role=Membership.Role.OWNER)
    count = owners.count()
    if membership.role == Membership.Role.OWNER and new_role != Membership.Role.OWNER:
        count -= 1
    return count


@require_POST
@access.project_view(access.can_manage_members)
def member_role(request: HttpRequest, project: Project, user_id: int) -> HttpResponse:
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose owner or member.")
        return redirect(project)
    with transaction.atomic():
        membership = _membership(project, user_id)
        new_role = form.cleaned_data["role"]
        if _owner_count_after(project, membership, new_role) < 1:
            messages.error(request, "A project needs at least one owner: make someone else owner first.")
            return redirect(project)
        membership.role = new_role
        membership.save(update_fields=["role"])
    project.__dict__.pop("_role_cache", None)
    messages.success(request, f"{membership.user.username} is now {new_role}.")
    return redirect(project)


@require_POST
@access.project_view(access.can_manage_members)
def member_remove(request: HttpRequest, project: Project, user_id: int) -> HttpResponse:
    with transaction.atomic():
        membership = _membership(project, user_id)
        if _owner_count_after(project, membership, None) < 1:
            messages.error(request, "The last owner cannot be removed: make someone else owner first.")
            return redirect(project)
        username = membership.user.username
        membership.delete()
    project.__dict__.pop("_role_cache", None)  # the remover may have removed themselves
    messages.success(request, f"{username} removed from the project.")
    if not access.can_read(request.user, project):
        return redirect("projects:list")
    return redirect(project)
