"""The floor: the cheapest request the stack can serve that still touches the database.

`GET /api/v1/bench/floor?id=<pk>` answers `{"id", "title"}` of one auction after one
primary-key `SELECT`, through the same gunicorn workers, Django middleware and DRF view
machinery as every other endpoint, with no authentication and no permission check.
Every scenario's throughput is reported as a ratio to this one, so the figures say what
the product's own code costs on top of what the stack costs anyway.

Routed in `config/urls.py` only when `settings.BENCH_MODE` is true (`BENCH_MODE=1`).
"""

from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from auctions.models import Auction


class BenchFloorView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    schema = None  # not part of the product's API: kept out of the OpenAPI schema

    def get(self, request: Request) -> Response:
        raw = request.query_params.get("id", "1")
        auction_id = int(raw) if raw.isdigit() and len(raw) <= 18 else 0
        row = Auction.objects.filter(pk=auction_id).values("id", "title").first()
        if row is None:
            raise NotFound(f"There is no auction with id {auction_id}.")
        return Response(row)
