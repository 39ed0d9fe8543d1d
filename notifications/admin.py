from django.contrib import admin, messages

from auctions.admin import ReadOnlyAdmin
from notifications import services
from notifications.models import Event, Notification


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "auction", "created_at", "cursor", "expanded_at"]
    list_filter = ["kind"]
    raw_id_fields = ["auction", "bid"]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "kind", "recipient", "subject", "status", "attempts", "sent_at", "last_error",
    ]  # fmt: skip
    list_filter = ["status", "kind"]
    list_select_related = ["recipient"]
    search_fields = ["recipient__username", "subject"]
    raw_id_fields = ["event", "recipient"]
    actions = ["resend"]

    def has_resend_permission(self, request) -> bool:
        # The rows stay read-only in the admin; sending again is the one change allowed,
        # to those who may change notifications.
        return request.user.has_perm("notifications.change_notification")

    @admin.action(
        description="Send the selected failed notifications again", permissions=["resend"]
    )
    def resend(self, request, queryset) -> None:
        ids = list(queryset.filter(status=Notification.Status.FAILED).values_list("pk", flat=True))
        resent = services.notifications_resend(ids)
        self.message_user(
            request, f"{resent} failed notification(s) queued to be sent again.", messages.SUCCESS
        )
