from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.utils.text import slugify

from .models import Membership, Project


# Addresses under /projects/ that are pages of their own: a project there could not be reached.
RESERVED_SLUGS = {"new"}


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
        if slug in RESERVED_SLUGS or Project.objects.filter(slug=slug).exists():
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
        # Usernames are unique as written, so two may differ only in case: the exact one wins.
        users = list(User.objects.filter(username__iexact=username, is_active=True)[:10])
        exact = [user for user in users if user.username == username]
        if exact:
            user = exact[0]
        elif len(users) == 1:
            user = users[0]
        elif users:
            names = ", ".join(sorted(f"“{user.username}”" for user in users))
            raise forms.ValidationError(f"Several users match “{username}” ({names}): type the name exactly.")
        else:
            raise forms.ValidationError(f"No user is called “{username}”.")
        if Membership.objects.filter(project=self.project, user=user).exists():
            raise forms.ValidationError(f"{user.username} is already a member of this project.")
        return user


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)
