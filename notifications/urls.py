from common.urls import route
from notifications import views

urlpatterns = [
    *route("me/notifications", views.MyNotificationListView.as_view(), "my-notifications"),
    *route("unsubscribe/<str:token>", views.UnsubscribeView.as_view(), "unsubscribe"),
]
