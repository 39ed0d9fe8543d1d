"""The WSGI entry point loads what the first requests would otherwise wait for."""

from tests.support.probe import python_probe


def test_a_booted_worker_has_the_redis_transport_loaded_before_any_request():
    # A fresh interpreter: in the test process, other tests have imported everything.
    probe = "import sys, config.wsgi; print('kombu.transport.redis' in sys.modules)"
    # The broker is never contacted: nothing connects.
    loaded = python_probe(probe, CELERY_BROKER_URL="redis://127.0.0.1:1/0")

    assert loaded == "True"


def test_a_booted_worker_keeps_what_it_loaded_out_of_the_garbage_collector():
    probe = (
        "import gc, config.wsgi; gc.collect(); print(gc.get_freeze_count(), len(gc.get_objects()))"
    )
    frozen, tracked = map(int, python_probe(probe).split())
    # Django, DRF and the project: tens of thousands of objects, no longer scanned by a
    # full collection, which then has next to nothing left to look at.
    assert frozen > 50_000
    assert tracked < frozen / 10
