from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.decorators.http import require_http_methods
from django.views.generic import RedirectView

from hpo_jobs.api import account as api_account
from hpo_jobs.pages.site_views import site_settings

from . import views

# LoginView redirects a logged-in user whatever the method; refuse the methods it does not serve first.
login_view = require_http_methods(["GET", "HEAD", "POST"])(
    login_not_required(auth_views.LoginView.as_view(redirect_authenticated_user=True))
)

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="projects:list", permanent=False, http_method_names=["get", "head"])),
    path("accounts/login/", login_view, name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("projects/", include("projects.urls")),
    path("projects/<slug:slug>/hpo-jobs/", include("hpo_jobs.urls")),
    path("settings/", site_settings, name="site_settings"),
    path("account/tokens/", api_account.token_list, name="api_tokens"),
    path("account/tokens/<int:pk>/revoke/", api_account.token_revoke, name="api_token_revoke"),
    path("api/v1/", include("hpo_jobs.api.urls")),
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
    path(settings.CSP_REPORT_URL.strip("/") + "/", views.csp_report, name="csp_report"),
]
