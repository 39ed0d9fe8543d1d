"""Thin Celery wrappers around common's housekeeping services."""

from celery import shared_task

from common.idempotency import idempotency_keys_purge


@shared_task(ignore_result=True)
def idempotency_keys_purge_task() -> None:
    idempotency_keys_purge()
