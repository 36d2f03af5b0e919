"""The dashboard's entry point (`streamlit run`): the page list, with Compare as the landing page."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

PAGES = Path(__file__).parent / "pages"


def main() -> None:
    """Configure the app and run the page the URL asks for."""
    st.set_page_config(page_title="ModelAtlas", layout="wide")
    pages = [st.Page(PAGES / "compare.py", title="Compare", icon=":material/table_chart:", default=True)]
    st.navigation(pages).run()


main()
