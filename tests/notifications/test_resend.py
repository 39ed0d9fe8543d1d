"""An operator sends failed notifications again: from the admin, or with
`manage.py notifications_resend`; both through `notifications_resend`."""

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from common import clock
from config.celery import app as celery_app
from notifications import services
from notifications.models import Event, Notification
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def eager_tasks():
    """Tasks run at once in this process, as a worker would run them."""
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture
def refused(auction_create, mailbox, eager_tasks):
    """Three announcements the mail server refused for good (550), then fixed."""
    readers = UserFactory.create_batch(3)
    mailbox.refuse = {reader.email for reader in readers}
    auction_create()
    event = Event.objects.filter(kind="auction_created").latest("id")
    ids, _ = services.event_expand(event.pk)
    services.notification_deliver(ids)
    assert set(Notification.objects.values_list("status", flat=True)) == {"failed"}
    mailbox.refuse = set()
    return readers


def statuses() -> dict[str, str]:
    return dict(Notification.objects.values_list("recipient__email", "status"))


def test_the_command_resends_the_failed_notifications_it_is_given(refused, mailbox):
    chosen = Notification.objects.get(recipient=refused[0])
    out = StringIO()

    call_command("notifications_resend", "--ids", str(chosen.pk), stdout=out)

    assert "1 failed notification(s)" in out.getvalue()
    assert [m.rcpt_tos[0] for m in mailbox.snapshot()] == [refused[0].email]  # task ran eagerly
    assert statuses()[refused[0].email] == "sent"
    assert statuses()[refused[1].email] == "failed"


def test_the_command_resends_every_failed_one_since_an_instant(refused, mailbox):
    call_command("notifications_resend", "--since", (clock.now() + timedelta(hours=1)).isoformat())
    assert not mailbox.snapshot()

    call_command("notifications_resend", "--since", (clock.now() - timedelta(hours=1)).isoformat())
    assert sorted(m.rcpt_tos[0] for m in mailbox.snapshot()) == sorted(r.email for r in refused)
    assert set(statuses().values()) == {"sent"}


def test_the_command_refuses_to_guess_which_ones(refused):
    with pytest.raises(CommandError):
        call_command("notifications_resend")
    with pytest.raises(CommandError):
        call_command("notifications_resend", "--since", "yesterday")


def test_a_sent_notification_is_never_resent(refused, mailbox):
    call_command("notifications_resend", "--all")
    mailbox.clear()

    assert services.notifications_resend() == 0
    assert not mailbox.snapshot()


def test_the_admin_action_resends_the_selected_failed_notifications(refused, client, mailbox):
    superuser = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(superuser)
    chosen = list(
        Notification.objects.filter(recipient__in=refused[:2]).values_list("pk", flat=True)
    )

    listing = client.get("/admin/notifications/notification/")
    assert b"Send the selected failed notifications again" in listing.content
    response = client.post(
        "/admin/notifications/notification/",
        {"action": "resend", "_selected_action": chosen},
        follow=True,
    )

    assert response.status_code == 200
    assert b"2 failed notification(s) queued" in response.content
    assert sorted(m.rcpt_tos[0] for m in mailbox.snapshot()) == sorted(r.email for r in refused[:2])
    assert statuses()[refused[2].email] == "failed"


def test_a_resend_larger_than_a_batch_goes_in_batches_and_resends_every_row(
    refused, mailbox, settings
):
    settings.NOTIFICATION_BATCH_SIZE = 2

    assert services.notifications_resend() == 3

    assert sorted(m.rcpt_tos[0] for m in mailbox.snapshot()) == sorted(r.email for r in refused)
    assert set(statuses().values()) == {"sent"}
