"""The personal API tokens page: a user makes, names and revokes their own tokens; staff see and
revoke everyone's. A new token's secret is shown once, on the page that made it, and never again."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from .models import ApiToken

MAX_DAYS = 365


class TokenForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100,
                           help_text="What the token is for, e.g. “laptop” or “CI pipeline”.")
    days = forms.IntegerField(label="Expires after (days)", min_value=1, max_value=MAX_DAYS,
                              help_text=f"1 to {MAX_DAYS} days.")

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].replace("\x00", "").strip()
        if not name:
            raise forms.ValidationError("Give the token a name.")
        return name


def _tokens_for(user):
    tokens = ApiToken.objects.select_related("user")
    return tokens if user.is_staff else tokens.filter(user=user)


@require_http_methods(["GET", "HEAD", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    """The user's tokens (everyone's for staff), and the form making a new one."""
    form = TokenForm(request.POST or None, initial={"days": settings.API_TOKEN_DEFAULT_DAYS})
    new_secret = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            token, new_secret = ApiToken.issue(request.user, form.cleaned_data["name"], form.cleaned_data["days"])
            form = TokenForm(initial={"days": settings.API_TOKEN_DEFAULT_DAYS})
        else:
            status = 400
    return render(request, "api/tokens.html", {
        "form": form,
        "tokens": _tokens_for(request.user)[:500],
        "new_secret": new_secret,
        "show_owner": request.user.is_staff,
    }, status=status)


@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """Revoke one token: its owner's, or anyone's for staff (others get 404: a token is private)."""
    token = _tokens_for(request.user).filter(pk=pk).first()
    if token is None:
        raise Http404("No such token")
    if not (request.user.is_staff or token.user_id == request.user.pk):
        raise PermissionDenied
    token.revoke()
    messages.success(request, f"Token “{token.name}” revoked: it no longer works.")
    return redirect("api_tokens")
