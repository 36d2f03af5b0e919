"""The exception hierarchy: one base for every error meant for the user, unreachable sources a kind of source error."""

from __future__ import annotations

import pytest

from modelatlas.errors import (
    ConfigurationError,
    ModelAtlasError,
    SourceError,
    SourceUnreachableError,
    WarehouseError,
)


@pytest.mark.parametrize("error", [ConfigurationError, WarehouseError, SourceError, SourceUnreachableError])
def test_every_error_is_a_modelatlas_error(error: type[ModelAtlasError]) -> None:
    with pytest.raises(ModelAtlasError, match=r"^check OPENAI_API_KEY$"):
        raise error("check OPENAI_API_KEY")


def test_an_unreachable_source_is_caught_as_a_source_error() -> None:
    with pytest.raises(SourceError):
        raise SourceUnreachableError("openai: https://api.openai.com is unreachable")


@pytest.mark.parametrize(
    ("error", "not_a"),
    [
        (ConfigurationError, SourceError),
        (WarehouseError, SourceError),
        (SourceError, SourceUnreachableError),
        (SourceError, WarehouseError),
        (ConfigurationError, WarehouseError),
    ],
)
def test_the_kinds_are_distinct(error: type[ModelAtlasError], not_a: type[ModelAtlasError]) -> None:
    assert not issubclass(error, not_a)


def test_the_base_is_an_ordinary_exception() -> None:
    assert issubclass(ModelAtlasError, Exception)
    assert not issubclass(ModelAtlasError, (ValueError, OSError, RuntimeError))
