from drf_spectacular.utils import extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from common.schema import problem_response
from notifications import selectors
from notifications.models import Notification
from notifications.serializers import NotificationSerializer


class MyNotificationListView(GenericAPIView):
    serializer_class = NotificationSerializer
    permission_classes = [IsAuthenticated]
    queryset = Notification.objects.none()  # for the schema: the rows come from selectors

    @extend_schema(
        summary="My notifications",
        description="What was or will be emailed to me, newest first, with delivery status: "
        "`pending` (queued or retrying), `sending`, `sent`, `failed` (gave up).",
        responses={200: NotificationSerializer(many=True), 401: problem_response("No token.")},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(selectors.notification_list(recipient=request.user))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)
