"""The exception reporter filter of the error pages and error emails."""

from __future__ import annotations

import re
from typing import Any

from django.views.debug import SafeExceptionReporterFilter

# The password of a URL's user information: scheme://user:PASSWORD@host (the user may be empty).
URL_PASSWORD = re.compile(r"(?P<before>\b[a-z][a-z0-9+.-]*://[^/@:\s]*:)(?P<password>[^@/\s]+)(?=@)", re.IGNORECASE)


class PortalExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django's filter, which hides settings named like secrets, also hiding passwords inside URLs.

    DATABASE_URL, REDIS_URL and CELERY_BROKER_URL carry their password in the URL, under names
    that say nothing of it, in the settings and, under runserver, in the request's environment.
    """

    hidden_settings = re.compile("API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|DSN", flags=re.IGNORECASE)

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        """The value with secret-named entries replaced, and any URL's password replaced too."""
        value = super().cleanse_setting(key, value)
        if isinstance(value, str):  # a lazy string (some settings are) passes too: str() reads it
            return URL_PASSWORD.sub(lambda m: m["before"] + self.cleansed_substitute, str(value))
        return value
