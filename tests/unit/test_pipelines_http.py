"""The HTTP client factory and the project errors for failed requests, which never carry a secret."""

from __future__ import annotations

from importlib.metadata import version
from typing import TYPE_CHECKING

import httpx
import pytest

from modelatlas.errors import SourceError, SourceUnreachableError
from modelatlas.pipelines.http import build_client, describe_failure, user_agent

if TYPE_CHECKING:
    from conftest import LocalServer

URL = "https://api.example.test/v1/models"
SECRET = "sk-test-0123456789abcdef"


def request(url: str = URL) -> httpx.Request:
    return httpx.Request("GET", url)


def status_error(status: int, url: str = URL) -> httpx.HTTPStatusError:
    response = httpx.Response(status, request=request(url))
    return httpx.HTTPStatusError(f"HTTP {status}", request=response.request, response=response)


# --- describe_failure ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("[Errno 111] Connection refused", request=request()),
        httpx.ConnectTimeout("timed out", request=request()),
        httpx.ReadTimeout("timed out", request=request()),
        httpx.RemoteProtocolError("peer closed connection", request=request()),
    ],
)
def test_transport_failures_are_unreachable(exc: httpx.TransportError) -> None:
    error = describe_failure("openai", URL, exc)

    assert isinstance(error, SourceUnreachableError)
    assert str(error) == f"openai: {URL} is unreachable ({type(exc).__name__}: {exc})"


@pytest.mark.parametrize("status", [401, 404, 429, 500])
def test_http_status_errors_say_the_status(status: int) -> None:
    error = describe_failure("openai", URL, status_error(status))

    assert type(error) is SourceError
    assert str(error) == f"openai: {URL} answered HTTP {status}"


def test_other_request_failures_are_source_errors() -> None:
    error = describe_failure(
        "openai", URL, httpx.TooManyRedirects("Exceeded maximum allowed redirects.", request=request())
    )

    assert type(error) is SourceError
    assert str(error) == f"openai: request to {URL} failed (TooManyRedirects: Exceeded maximum allowed redirects.)"


def test_failures_never_carry_an_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    url = f"{URL}?api_key={SECRET}"

    errors = [
        describe_failure(
            "openai", url, httpx.ConnectError(f"cannot reach {url} with key {SECRET}", request=request(url))
        ),
        describe_failure("openai", url, status_error(401, url)),
        describe_failure("openai", url, httpx.DecodingError(f"bad body for {SECRET}", request=request(url))),
    ]

    for error in errors:
        assert SECRET not in str(error)
        assert "api_key=***" in str(error)


def test_failures_never_carry_a_url_password() -> None:
    url = "https://robot:hunter2-password@registry.example.test/data.json"

    error = describe_failure("genai-prices", url, httpx.ConnectError("refused", request=request(url)))

    assert "hunter2-password" not in str(error)
    assert "https://robot:***@registry.example.test/data.json is unreachable" in str(error)


# --- build_client -------------------------------------------------------------------------------------------------


def test_user_agent_names_the_project_and_its_version() -> None:
    assert user_agent().startswith(f"modelatlas/{version('modelatlas')} ")


def test_build_client_bounds_its_timeouts_and_follows_redirects() -> None:
    with build_client(base_url="https://api.example.test", connect_timeout=1.5, read_timeout=7) as client:
        assert (client.timeout.connect, client.timeout.read) == (1.5, 7)
        assert client.follow_redirects is True
        assert client.base_url == httpx.URL("https://api.example.test")
        assert client.headers["User-Agent"] == user_agent()


def test_build_client_sends_the_user_agent_and_the_given_headers(local_server: LocalServer) -> None:
    local_server.serve("/v1/models", b"{}")

    with build_client(base_url=local_server.base_url, headers={"Authorization": "Bearer token-123456"}) as client:
        response = client.get("/v1/models")

    assert response.status_code == 200
    ((path, headers),) = local_server.requests
    assert path == "/v1/models"
    assert headers["User-Agent"] == user_agent()
    assert headers["Authorization"] == "Bearer token-123456"


def test_a_real_refused_connection_is_described_as_unreachable(closed_port_url: str) -> None:
    with build_client(connect_timeout=2, read_timeout=2) as client, pytest.raises(httpx.HTTPError) as raised:
        client.get(closed_port_url)

    error = describe_failure("genai-prices", closed_port_url, raised.value)

    assert isinstance(error, SourceUnreachableError)
    assert f"{closed_port_url} is unreachable (ConnectError" in str(error)


# --- ApiClient ----------------------------------------------------------------------------------------------------


def test_a_redirect_to_another_origin_never_carries_the_key(local_server: LocalServer) -> None:
    from modelatlas.pipelines.http import ApiClient

    landing = local_server.serve("/landing", "{}")
    # The same server under another name is another origin: what a redirect to someone else's host looks like.
    elsewhere = landing.replace("127.0.0.1", "localhost")
    local_server.serve("/models", "", status=302, headers={"Location": elsewhere})
    local_server.serve("/home", "", status=302, headers={"Location": landing})
    with ApiClient("Toy", local_server.base_url, headers={"x-api-key": SECRET}, secrets=(SECRET,)) as client:
        client.get("models")
        client.get("home")
    sent = [(path, {k.lower(): v for k, v in headers.items()}) for path, headers in local_server.requests]
    assert [(path, "x-api-key" in headers) for path, headers in sent] == [
        ("/models", True),
        ("/landing", False),
        ("/home", True),
        ("/landing", True),
    ]
    assert sent[0][1]["x-api-key"] == SECRET


def test_a_failure_after_retries_counts_the_attempts_of_that_request(local_server: LocalServer) -> None:
    from modelatlas.pipelines.http import ApiClient, RetryPolicy

    local_server.serve("/ok", "{}")
    local_server.serve("/down", "{}", status=503)
    policy = RetryPolicy(attempts=3, initial_wait_s=0.01, max_wait_s=0.02, budget_s=10)
    with ApiClient("Toy", local_server.base_url, policy=policy) as client:
        client.get("ok")
        with pytest.raises(SourceError, match=r"answered HTTP 503 after 3 attempts"):
            client.get("down")
