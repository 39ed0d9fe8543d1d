from django.contrib import admin

from auctions.admin import ReadOnlyAdmin
from notifications.models import Event, Notification


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "auction", "created_at", "cursor", "expanded_at"]
    list_filter = ["kind"]
    raw_id_fields = ["auction", "bid"]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "recipient", "subject", "status", "attempts", "sent_at"]
    list_filter = ["status", "kind"]
    list_select_related = ["recipient"]
    search_fields = ["recipient__username", "subject"]
    raw_id_fields = ["event", "recipient"]
