"""The Hugging Face Hub's model listing: GET /api/models with author, sort, limit, expand[] and a cursor in `Link`."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from typing import Any
from urllib.parse import urlencode

from modelatlas.simulator.core import ProviderHandler, SimRequest, SimResponse, load_fixture

MAX_LIMIT = 1000
# What /api/models returns per model when no expand[] is given.
DEFAULT_FIELDS = (
    "_id",
    "id",
    "likes",
    "trendingScore",
    "private",
    "downloads",
    "tags",
    "pipeline_tag",
    "library_name",
    "createdAt",
)
# The properties expand[] accepts (huggingface_hub's ExpandModelProperty_T).
EXPANDABLE = frozenset(
    {
        "author",
        "baseModels",
        "cardData",
        "childrenModelCount",
        "config",
        "createdAt",
        "disabled",
        "downloads",
        "downloadsAllTime",
        "gated",
        "gguf",
        "inference",
        "inferenceProviderMapping",
        "lastModified",
        "library_name",
        "likes",
        "mask_token",
        "model-index",
        "pipeline_tag",
        "private",
        "resourceGroup",
        "safetensors",
        "sha",
        "siblings",
        "spaces",
        "tags",
        "transformersInfo",
        "trendingScore",
        "usedStorage",
        "widgetData",
        "xetEnabled",
    }
)
SORTABLE = frozenset({"downloads", "likes", "createdAt", "lastModified", "trendingScore"})


def encode_cursor(offset: int) -> str:
    """An opaque cursor for the page starting at `offset`."""
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int | None:
    """The offset a cursor stands for, or None when it is not one of ours."""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    offset = decoded.get("offset") if isinstance(decoded, dict) else None
    return offset if isinstance(offset, int) and not isinstance(offset, bool) and offset >= 0 else None


class HuggingFaceHandler(ProviderHandler):
    """Serves `/api/models` from `fixtures/huggingface/models.json`.

    Anonymous requests are served; a request that presents a token other than `api_key` gets 401 (with
    `api_key=None` every presented token is wrong), as the Hub answers an invalid token.
    """

    name = "huggingface"
    items_key = None

    def __init__(self, api_key: str | None) -> None:
        super().__init__(api_key)
        self.models: list[dict[str, Any]] = load_fixture("huggingface")

    def authenticate(self, request: SimRequest) -> SimResponse | None:
        presented = request.header("authorization")
        if presented is None or (self.api_key is not None and presented == f"Bearer {self.api_key}"):
            return None
        return self.error(401, "Invalid credentials in Authorization header")

    def route(self, request: SimRequest) -> SimResponse:
        if request.method != "GET" or request.path.rstrip("/") != "/api/models":
            return self.not_found(request)
        expand = [*request.query.get("expand[]", []), *request.query.get("expand", [])]
        unknown = sorted(set(expand) - EXPANDABLE)
        if unknown:
            return self.error(400, f'"expand" contains an invalid value: {unknown[0]}', "BadRequest")
        try:
            limit = int(request.param("limit", str(MAX_LIMIT)) or MAX_LIMIT)
        except ValueError:
            return self.error(400, '"limit" must be a number', "BadRequest")
        if limit < 1:
            return self.error(400, '"limit" must be greater than or equal to 1', "BadRequest")
        limit = min(limit, MAX_LIMIT)
        cursor = request.param("cursor")
        offset = 0 if cursor is None else decode_cursor(cursor)
        if offset is None:
            return self.error(400, "Invalid cursor", "BadRequest")
        sort = request.param("sort")
        if sort is not None and sort not in SORTABLE:
            return self.error(400, f'"sort" must be one of {sorted(SORTABLE)}', "BadRequest")

        matching = self._matching(request.param("author"), request.param("search"))
        if sort is not None:
            descending = request.param("direction", "-1") == "-1"
            matching.sort(key=lambda model: (model.get(sort) is not None, model.get(sort) or 0), reverse=descending)
        page = matching[offset : offset + limit]
        body = [self._shape(model, expand) for model in page]
        headers = self._headers()
        if offset + limit < len(matching):
            query = {key: values for key, values in request.query.items() if key != "cursor"}
            query["cursor"] = [encode_cursor(offset + limit)]
            headers["link"] = f'<{request.base_url}/api/models?{urlencode(query, doseq=True)}>; rel="next"'
        return SimResponse(200, body, headers)

    def _matching(self, author: str | None, search: str | None) -> list[dict[str, Any]]:
        models = self.models
        if author:
            models = [model for model in models if str(model.get("author", "")).lower() == author.lower()]
        if search:
            models = [model for model in models if search.lower() in str(model.get("id", "")).lower()]
        return list(models)

    @staticmethod
    def _shape(model: dict[str, Any], expand: list[str]) -> dict[str, Any]:
        # With expand[] the Hub returns exactly the expanded properties (plus the ids), without it its defaults.
        fields = ("_id", "id", *expand) if expand else DEFAULT_FIELDS
        return {name: model[name] for name in fields if name in model}

    def error(self, status: int, message: str, code: str | None = None) -> SimResponse:
        headers = {**self._headers(), "x-error-message": message}
        if code is not None:
            headers["x-error-code"] = code
        return SimResponse(status, {"error": message}, headers)

    def rate_limited(self, retry_after_s: float) -> SimResponse:
        response = self.error(
            429,
            "You have exceeded our hourly quotas for action: api. Authenticate with a token to get higher limits.",
            "RateLimited",
        )
        seconds = max(1, round(retry_after_s))
        response.headers.update(
            {
                "retry-after": f"{retry_after_s:g}",
                "ratelimit": f'"api";r=0;t={seconds}',
                "ratelimit-policy": '"fixed window";"api";q=500;w=300',
            }
        )
        return response

    @staticmethod
    def _headers() -> dict[str, str]:
        return {
            "x-request-id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}",
            "x-powered-by": "huggingface-moon",
        }
