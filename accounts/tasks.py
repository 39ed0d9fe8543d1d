"""Thin Celery wrappers around accounts' housekeeping services."""

from celery import shared_task

from accounts import services


@shared_task(ignore_result=True)
def tokens_expired_purge_task() -> None:
    services.tokens_expired_purge()
