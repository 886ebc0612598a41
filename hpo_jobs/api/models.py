"""Personal API tokens, and the idempotency keys of API creates."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

TOKEN_PREFIX = "hpo"
# A token reads ``hpo_<key id>_<secret>``: the key id finds the row (indexed), the secret proves it.
KEY_ID_BYTES = 6


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def usable(self) -> "ApiTokenQuerySet":
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())


class ApiToken(models.Model):
    """A personal API token: the API acts as its user, with that user's rights. Only its sha256 is kept."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    key_id = models.CharField(max_length=2 * KEY_ID_BYTES, unique=True)
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({TOKEN_PREFIX}_{self.key_id}_…)"

    @classmethod
    def issue(cls, user, name: str, days: int) -> tuple["ApiToken", str]:
        """A new token for ``user`` valid for ``days``, and its secret text (shown once, never stored)."""
        key_id = secrets.token_hex(KEY_ID_BYTES)
        text = f"{TOKEN_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        token = cls.objects.create(user=user, name=name, key_id=key_id, digest=_digest(text),
                                   expires_at=timezone.now() + timedelta(days=days))
        return token, text

    @classmethod
    def parse_key_id(cls, text: str) -> str | None:
        """The key id of a token's text, or None when the text is not shaped like one of ours."""
        prefix, _, rest = text.partition("_")
        key_id, _, secret = rest.partition("_")
        if prefix != TOKEN_PREFIX or len(key_id) != 2 * KEY_ID_BYTES or not secret:
            return None
        return key_id

    def matches(self, text: str) -> bool:
        """Whether ``text`` is this token's secret (compared in constant time)."""
        return hmac.compare_digest(self.digest, _digest(text))

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def state(self) -> str:
        return "revoked" if self.is_revoked else "expired" if self.is_expired else "active"

    def revoke(self) -> None:
        """Revoke the token now (a revoked token is kept, to show when it was revoked)."""
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])


class IdempotencyKey(models.Model):
    """A client's key for one create: a retried create with the same key returns the same job."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    body_digest = models.CharField(max_length=64)  # sha256 of the create's body, canonical JSON
    job = models.ForeignKey("hpo_jobs.HpoJob", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user", "key"], name="idempotency_key_unique"),
        ]

    def __str__(self) -> str:
        return self.key
