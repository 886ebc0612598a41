from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.utils.text import slugify

from .models import Membership, Project


class ProjectForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = ["name", "slug", "description"]
        help_texts = {"slug": "Used in addresses; lowercase letters, digits and hyphens."}
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False

    def clean_slug(self) -> str:
        slug = self.cleaned_data.get("slug") or slugify(self.cleaned_data.get("name", ""))[:50]
        if not slug:
            raise forms.ValidationError("Choose an address made of letters, digits and hyphens.")
        if Project.objects.filter(slug=slug).exists():
            raise forms.ValidationError(f"The address “{slug}” is taken; choose another.")
        return slug


class AddMemberForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)

    def __init__(self, *args, project: Project, **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project

    def clean_username(self):
        username = self.cleaned_data["username"].strip()
        User = get_user_model()
        try:
            user = User.objects.get(username__iexact=username, is_active=True)
        except User.DoesNotExist:
            raise forms.ValidationError(f"No user is called “{username}”.") from None
        if Membership.objects.filter(project=self.project, user=user).exists():
            raise forms.ValidationError(f"{user.username} is already a member of this project.")
        return user


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)
