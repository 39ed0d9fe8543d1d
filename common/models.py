from django.conf import settings
from django.db import models

from common import clock


class IdempotencyKey(models.Model):
    """One `Idempotency-Key` a user sent, with the answer of the request it made.

    A row exists only for a request that succeeded: it is inserted and its answer stored in
    the request's own transaction, so an error rolls both back (see `common.idempotency`).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="idempotency_keys"
    )
    key = models.CharField(max_length=255)
    # The operation the key was first used on, "POST /api/v1/auctions/7/bids".
    scope = models.CharField(max_length=255)
    # sha256 (hex) of the request body as canonical JSON.
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    # The answer's JSON document as text, not a JSONField: PostgreSQL's jsonb would reorder
    # the keys, and a replay is to be the very same body.
    response_body = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_once"),
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_key_created_at")]

    def __str__(self) -> str:
        return f"{self.key} ({self.scope})"
