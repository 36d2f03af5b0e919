"""A toy source declared in one spec, with its simulator handler: tests add it and find it everywhere."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelatlas.pipelines.catalog import models_table
from modelatlas.pipelines.coerce import as_integer, as_text
from modelatlas.pipelines.paginate import AfterId, PageSize
from modelatlas.pipelines.quality.suite import Suite
from modelatlas.pipelines.spec import Catalog, Credential, Endpoint, Simulated, SourceSpec
from modelatlas.simulator.core import ProviderHandler, SimRequest, SimResponse

THINGS = [{"id": f"thing-{n}", "weight": n} for n in range(7)]


class ToyHandler(ProviderHandler):
    """Serves `/v1/things` three at a time, behind a Bearer key."""

    name = "toy"

    def authenticate(self, request: SimRequest) -> SimResponse | None:
        if request.header("authorization") == f"Bearer {self.api_key}":
            return None
        return self.error(401, "bad key")

    def route(self, request: SimRequest) -> SimResponse:
        if request.path != "/v1/things":
            return self.not_found(request)
        limit = int(request.param("limit", "3") or 3)
        after = request.param("after_id")
        start = next((i + 1 for i, thing in enumerate(THINGS) if thing["id"] == after), 0)
        page = THINGS[start : start + limit]
        more = start + limit < len(THINGS)
        return SimResponse(200, {"data": page, "has_more": more, "last_id": page[-1]["id"] if page else None})

    def error(self, status: int, message: str, code: str | None = None) -> SimResponse:
        return SimResponse(status, {"error": {"message": message}})


def thing_columns(item: Mapping[str, Any]) -> dict[str, Any]:
    """The toy's one typed column."""
    return {"weight": as_integer(item.get("weight"))}


CATALOG = Catalog(
    endpoint=Endpoint("v1/things", AfterId(PageSize("limit", default=3, maximum=10))),
    identify=lambda item: as_text(item.get("id")),
    columns=thing_columns,
    column_types={"weight": "bigint"},
    table="things",
)

# A price registry by kind, so that dbt's union models (which read catalogs and price points) are left alone.
TOY = SourceSpec(
    name="toy",
    display_name="Toy",
    kind="price registry",
    description="A toy source of things (GET /v1/things, every page).",
    tables=(
        models_table(
            CATALOG,
            "One row per thing.",
            Suite(source="toy", entity="things", key=("id",), not_null=("id",), guard_shrink=True),
        ),
    ),
    cadence="*/7 * * * *",
    credential=Credential("TOY_API_KEY"),
    base_url="https://api.toy.example",
    catalog=CATALOG,
    simulator=Simulated("tests.toy_source:ToyHandler"),
    endpoint_doc="`GET /v1/things`, pages by `after_id`",
)
