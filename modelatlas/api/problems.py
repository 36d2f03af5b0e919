"""Errors as RFC 9457 problem details (`application/problem+json`): a status, a title, a detail that says what to do."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"


class ProblemDetails(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field("about:blank", description="a URI naming the kind of problem (about:blank: the status says it)")
    title: str = Field(description="a short summary of the kind of problem")
    status: int = Field(description="the HTTP status code")
    detail: str = Field(description="what went wrong with this request and what to do about it")
    instance: str | None = Field(None, description="the path of the request")
    errors: list[dict[str, Any]] | None = Field(None, description="for a 422: each parameter that was not accepted")


class Problem(Exception):  # noqa: N818 - RFC 9457 calls it a problem; it is answered, not an error of the API
    """A request that cannot be answered, raised anywhere a handler runs and answered as problem details."""

    def __init__(self, status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = headers or {}


def problem_response(request: Request, problem: Problem, errors: list[dict[str, Any]] | None = None) -> JSONResponse:
    """`problem` as an `application/problem+json` response."""
    body = ProblemDetails(
        title=problem.title, status=problem.status, detail=problem.detail, instance=request.url.path, errors=errors
    )
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=problem.status, headers=problem.headers, media_type=MEDIA_TYPE
    )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses` of a route for OpenAPI: each status answered with problem details."""
    return {status: {"model": ProblemDetails, "content": {MEDIA_TYPE: {}}} for status in statuses}


def _validation_errors(error: RequestValidationError) -> list[dict[str, Any]]:
    # The input is left out: a rejected value may be a credential pasted into the wrong parameter.
    return [{"loc": list(item.get("loc", ())), "msg": str(item.get("msg", ""))} for item in error.errors()]


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error the app raises, FastAPI's and Starlette's included, with problem details."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(request, exc)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = _validation_errors(exc)
        names = ", ".join(str(item["loc"][-1]) for item in errors if item["loc"]) or "the request"
        problem = Problem(422, "Invalid request", f"check {names}: see `errors` for what each accepts")
        return problem_response(request, problem, errors)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Request failed")
        detail = str(exc.detail) if exc.status_code != 404 else f"nothing is served at {request.url.path}"
        return problem_response(request, Problem(exc.status_code, title, detail, dict(exc.headers or {})))

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error answering %s %s", request.method, request.url.path)
        problem = Problem(500, "Internal error", "the API failed to answer; the error is in its log")
        return problem_response(request, problem)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
