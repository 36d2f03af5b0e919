"""The docs tables that list sources are the ones the specs generate."""

from __future__ import annotations

import pytest

from modelatlas.pipelines.registry import sources
from modelatlas.reference import generated_pages, with_block


def test_the_generated_docs_tables_are_up_to_date() -> None:
    for path, text in generated_pages(sources()).items():
        assert path.read_text() == text, f"{path.name} is out of date: run `python -m modelatlas.reference`"


def test_a_block_is_replaced_between_its_markers_only() -> None:
    text = "before\n<!-- generated:x -->\nold\n<!-- /generated:x -->\nafter\n"
    assert with_block(text, "x", "new") == "before\n<!-- generated:x -->\nnew\n<!-- /generated:x -->\nafter\n"
    with pytest.raises(ValueError, match="no generated:y block"):
        with_block(text, "y", "new")
