"""Idempotent demo data for local use: users, project `demo`, demo datasets, site settings."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from projects.models import Membership, Project

USERS = [
    # username, staff, role in project demo
    ("admin", True, None),
    ("alice", False, Membership.Role.OWNER),
    ("bob", False, Membership.Role.MEMBER),
    ("charlie", False, None),
]


class Command(BaseCommand):
    help = "Create the demo users (admin, alice, bob, charlie), project `demo` and its datasets. Safe to run again."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Run even with DEBUG off (sets known passwords!).")

    def handle(self, *args, force: bool = False, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "seed_demo sets well-known passwords; it refuses to run with DEBUG off. Use --force if you mean it."
            )
        password = settings.DEMO_PASSWORD
        User = get_user_model()
        with transaction.atomic():
            project, _ = Project.objects.get_or_create(
                slug="demo",
                defaults={"name": "Demo", "description": "Try tuning XGBoost on the demo datasets with the local engine."},
            )
            for username, staff, role in USERS:
                user, _ = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.com"})
                user.is_staff = staff
                user.is_superuser = staff
                user.is_active = True
                user.set_password(password)
                user.save()
                if role:
                    Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
        datasets = self._write_datasets()
        self._site_settings()
        self.stdout.write(self.style.SUCCESS("Demo ready."))
        self.stdout.write("  Users: admin (staff), alice (owner of demo), bob (member of demo), charlie (no project)")
        self.stdout.write(f"  Password for all of them: {password}")
        for name, info in datasets.items():
            self.stdout.write(f"  Dataset {name} ({info['task']}):")
            self.stdout.write(f"    train      {info['train']}")
            self.stdout.write(f"    validation {info['validation']}")

    def _write_datasets(self) -> dict:
        from hpo_jobs.local_engine.demo_data import write_demo_datasets

        from hpo_jobs.backends import get_backend

        folders = get_backend("local").data_folders("demo")  # the demo project's own data folders
        if not folders:
            raise CommandError("HPO_LOCAL_DATA_DIRS gives the demo project no data folder")
        root = folders[0]
        if "{project}" not in str(settings.HPO_LOCAL_DATA_DIRS[0]):
            root = root / "demo"  # a folder shared by every project: the demo's data in a subfolder
        root.mkdir(parents=True, exist_ok=True)
        return write_demo_datasets(root)

    def _site_settings(self) -> None:
        from hpo_jobs.models import SiteSettings

        # The example custom algorithm ships with the portal; let the demo use it.
        site = SiteSettings.load()
        if not site.ecr_enabled:
            site.ecr_enabled = True
            site.save()
