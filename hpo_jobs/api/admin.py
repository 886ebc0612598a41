from django.contrib import admin

from .models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Staff see every token (never its secret) and revoke it."""

    list_display = ("name", "user", "key_id", "created_at", "expires_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "user__username", "key_id")
    readonly_fields = ("user", "name", "key_id", "digest", "created_at", "expires_at", "last_used_at")
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False  # a token is made by its owner, who alone sees its secret once

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset) -> None:
        from django.utils import timezone

        queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
