"""Every access rule of the portal, in one module.

- A user outside a project gets 404 for everything under it: we never reveal that it exists.
- Members read; members create jobs; owners manage membership and stop any job.
- Staff (site admins) read every project and act as owners; they do not create jobs in projects
  they are not members of, so every job has a creator who belongs to its project.
"""

from __future__ import annotations

from functools import wraps
from typing import TYPE_CHECKING, Callable

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from .models import Membership, Project

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from hpo_jobs.models import HpoJob


def role_in(user: "AbstractBaseUser", project: Project) -> str | None:
    """The user's role in the project, or None; cached on the project object for the request."""
    if not user.is_authenticated:
        return None
    cache = project.__dict__.setdefault("_role_cache", {})
    if user.pk not in cache:
        cache[user.pk] = (
            Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()
        )
    return cache[user.pk]


def visible_projects(user: "AbstractBaseUser"):
    """The projects a user may see: their own, or all for staff."""
    if not user.is_authenticated:
        return Project.objects.none()
    if user.is_staff:
        return Project.objects.all()
    # A subquery, not a join: a join would also narrow annotations such as member counts.
    return Project.objects.filter(pk__in=Membership.objects.filter(user=user).values("project"))


def can_read(user, project: Project) -> bool:
    return bool(user.is_authenticated and (user.is_staff or role_in(user, project)))


def is_owner(user, project: Project) -> bool:
    return role_in(user, project) == Membership.Role.OWNER


def can_manage_members(user, project: Project) -> bool:
    return bool(user.is_authenticated and (user.is_staff or is_owner(user, project)))


def can_create_jobs(user, project: Project) -> bool:
    return role_in(user, project) is not None


def can_stop_job(user, job: "HpoJob") -> bool:
    """The job's creator, a project owner, or staff."""
    if not user.is_authenticated:
        return False
    if user.is_staff or is_owner(user, job.project):
        return True
    return job.created_by_id == user.pk and role_in(user, job.project) is not None


def get_project(request: HttpRequest, slug: str) -> Project:
    """The project, if the user may read it; 404 otherwise (outsiders learn nothing)."""
    try:
        project = Project.objects.get(slug=slug)
    except Project.DoesNotExist:
        raise Http404("No such project") from None
    if not can_read(request.user, project):
        raise Http404("No such project")
    return project


def project_view(check: Callable[..., bool] | None = None):
    """Decorate a view taking ``slug``: it receives ``project`` instead, read access enforced (404),
    and ``check(user, project)`` enforced on top when given (403)."""

    def decorator(view):
        @wraps(view)
        def wrapper(request: HttpRequest, slug: str, *args, **kwargs):
            project = get_project(request, slug)
            if check is not None and not check(request.user, project):
                raise PermissionDenied
            return view(request, project, *args, **kwargs)

        return wrapper

    return decorator


def staff_required(view):
    """Staff only: 403 for everyone else (the login itself is enforced by middleware)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not request.user.is_staff:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper
