"""Site settings for staff: ECR access for custom algorithms, the instance types offered and their prices."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from projects.access import staff_required

from hpo_jobs.backends import get_backend
from hpo_jobs.models import SiteSettings

ECR_ENTRY = forms.RegexField(
    regex=r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?(/[a-z0-9][a-z0-9._/-]*)?$"
)
INSTANCE_TYPE = forms.RegexField(regex=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")


class SiteSettingsForm(forms.ModelForm):
    class Meta:
        model = SiteSettings
        fields = ["ecr_enabled", "ecr_allowed", "instance_types", "instance_prices"]
        widgets = {
            "ecr_allowed": forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
            "instance_types": forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
            "instance_prices": forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        }

    def _lines(self, field: str, checker: forms.Field, example: str) -> str:
        lines = [line.strip() for line in self.cleaned_data[field].splitlines() if line.strip()]
        bad = []
        for line in lines:
            try:
                checker.clean(line)
            except forms.ValidationError:
                bad.append(line)
        if bad:
            raise forms.ValidationError(
                f"Not understood: {', '.join(bad[:5])}. Write one per line, like {example}."
            )
        seen = list(dict.fromkeys(lines))
        return "\n".join(seen)

    def clean_ecr_allowed(self) -> str:
        return self._lines("ecr_allowed", ECR_ENTRY, "123456789012.dkr.ecr.us-east-1.amazonaws.com/team-a/")

    def clean_instance_types(self) -> str:
        value = self._lines("instance_types", INSTANCE_TYPE, "ml.m5.xlarge")
        if not value:
            raise forms.ValidationError("Offer at least one instance type.")
        return value

    def clean_instance_prices(self) -> dict:
        prices = self.cleaned_data["instance_prices"] or {}
        if not isinstance(prices, dict):
            raise forms.ValidationError('Write a JSON object, e.g. {"ml.m5.xlarge": 0.23}.')
        bad = []
        for key, value in prices.items():
            try:
                INSTANCE_TYPE.clean(key)
            except forms.ValidationError:
                bad.append(key)
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                bad.append(f"{key}: {value!r}")
        if bad:
            raise forms.ValidationError(
                f"Not understood: {', '.join(map(str, bad[:5]))}. Each key is an instance type and each value "
                'a price in USD per hour, e.g. {"ml.m5.xlarge": 0.23}.')
        return {key: float(value) for key, value in prices.items()}

    # ECR on with no registry listed is a valid state (seed_demo makes it): the local engine's custom
    # images come from HPO_LOCAL_CUSTOM_IMAGES, not from ECR, and on SageMaker no ECR image is offered
    # until a registry is listed. The page says so rather than refusing every save.


@require_http_methods(["GET", "HEAD", "POST"])
@staff_required
def site_settings(request: HttpRequest) -> HttpResponse:
    obj = SiteSettings.load()
    form = SiteSettingsForm(request.POST or None, instance=obj)
    if not get_backend().capabilities.sandboxed:
        messages.warning(request, "Training jobs run without a sandbox (HPO_LOCAL_SANDBOX=none): a custom algorithm "
                         "can read and write whatever the portal's OS user can. Install bubblewrap to sandbox them.")
    if request.method == "POST":
        if form.is_valid():
            form.save()
            messages.success(request, "Settings saved.")
            return redirect("site_settings")
        return render(request, "hpo_jobs/site_settings.html", _context(form, obj), status=400)
    return render(request, "hpo_jobs/site_settings.html", _context(form, obj))


def _context(form: SiteSettingsForm, obj: SiteSettings) -> dict:
    return {
        "form": form,
        "ecr_without_registries": obj.ecr_enabled and not obj.ecr_allowed_list,
        "engine": get_backend(),
    }
