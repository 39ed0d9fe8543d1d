from rest_framework import serializers

from notifications.models import Notification


class NotificationSerializer(serializers.ModelSerializer):
    auction = serializers.IntegerField(source="event.auction_id", read_only=True)
    auction_title = serializers.CharField(source="event.auction.title", read_only=True)

    class Meta:
        model = Notification
        fields = [
            "id", "kind", "auction", "auction_title", "subject", "status", "attempts",
            "created_at", "sent_at",
        ]  # fmt: skip
        read_only_fields = fields


class UnsubscribePageSerializer(serializers.Serializer):
    preference = serializers.CharField(help_text="The preference the link turns off.")
    category = serializers.CharField(help_text='Its name in words ("auction end notices").')


class UnsubscribedSerializer(serializers.Serializer):
    unsubscribed = serializers.CharField(help_text="The preference now off.")
    category = serializers.CharField(help_text='Its name in words ("auction end notices").')
