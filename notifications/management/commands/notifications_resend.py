"""`manage.py notifications_resend`: send failed notifications again."""

from datetime import UTC

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from notifications import services


class Command(BaseCommand):
    help = (
        "Send failed notifications again (after fixing what made them fail). Choose them with "
        "--ids and/or --since, or take every failed one with --all."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--ids", nargs="+", type=int, help="notification ids")
        parser.add_argument(
            "--since", help="only those created at or after this ISO 8601 instant (UTC if naive)"
        )
        parser.add_argument("--all", action="store_true", help="every failed notification")

    def handle(self, *args, ids=None, since=None, all=False, **options) -> None:
        if not (ids or since or all):
            raise CommandError("Say which: --ids, --since, or --all.")
        instant = None
        if since:
            instant = parse_datetime(since)
            if instant is None:
                raise CommandError(f"--since is not an ISO 8601 instant: {since!r}")
            if instant.tzinfo is None:
                instant = instant.replace(tzinfo=UTC)
        resent = services.notifications_resend(ids, since=instant)
        self.stdout.write(f"{resent} failed notification(s) queued to be sent again.")
