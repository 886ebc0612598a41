"""Authentication of API calls by a personal token: ``Authorization: Bearer hpo_…``."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from .models import ApiToken

# last_used_at is written at most this often per token, not on every call.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """A personal API token: the call is made as the token's user, with that user's rights and no more."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None  # not ours: the session may authenticate the call
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("The Authorization header must read: Bearer <token>.")
        try:
            text = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("This API token is not valid.") from None
        key_id = ApiToken.parse_key_id(text)
        token = ApiToken.objects.select_related("user").filter(key_id=key_id).first() if key_id else None
        if token is None or not token.matches(text):
            raise exceptions.AuthenticationFailed("This API token is not valid.")
        if token.is_revoked:
            raise exceptions.AuthenticationFailed("This API token has been revoked.")
        if token.is_expired:
            raise exceptions.AuthenticationFailed("This API token has expired; create a new one.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("This API token's user is inactive.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """The token scheme, as the schema shows it."""

    target_class = ApiTokenAuthentication
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A personal API token (hpo_…), made at /account/tokens/."}
