"""Projects are the unit of access: everything a user sees belongs to a project they are in."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.urls import reverse

role_arn_validator = RegexValidator(
    r"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$",
    "Enter an IAM role ARN such as arn:aws:iam::123456789012:role/SageMakerExecution.",
)


class Project(models.Model):
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=50, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="projects")

    # Set by staff only (Django admin): a role is a grant of power, never chosen by a member.
    sagemaker_role_arn = models.CharField(
        "SageMaker execution role", max_length=2048, blank=True, validators=[role_arn_validator],
        help_text="Blank: the site default (SAGEMAKER_ROLE_ARN).",
    )
    vpc_subnets = models.TextField("VPC subnets", blank=True, help_text="Subnet IDs, one per line.")
    vpc_security_group_ids = models.TextField(
        "VPC security groups", blank=True, help_text="Security group IDs, one per line."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("projects:detail", args=[self.slug])

    @property
    def role_arn(self) -> str:
        return self.sagemaker_role_arn or settings.SAGEMAKER_ROLE_ARN

    @property
    def vpc_config(self) -> dict | None:
        subnets = [s.strip() for s in self.vpc_subnets.split() if s.strip()]
        groups = [g.strip() for g in self.vpc_security_group_ids.split() if g.strip()]
        if not subnets or not groups:
            return None
        return {"Subnets": subnets, "SecurityGroupIds": groups}


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        MEMBER = "member", "Member"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="membership_unique")]
        ordering = ["user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} ({self.role})"
