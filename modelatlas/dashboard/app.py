"""The dashboard's entry point (`streamlit run`): the page list, with Compare as the landing page."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

# Not `pages/`: Streamlit also lists a folder of that name beside the entry point as pages of its own, by file name.
PAGES = Path(__file__).parent / "views"

# (file, title, icon, url path): the order of the navigation.
PAGE_LIST = [
    ("compare.py", "Compare", ":material/table_chart:", "compare"),
    ("side_by_side.py", "Side by side", ":material/compare:", "side-by-side"),
    ("model.py", "Model", ":material/insights:", "model"),
    ("market.py", "Market", ":material/trending_up:", "market"),
    ("status.py", "Status", ":material/monitor_heart:", "status"),
    ("spend.py", "Spend", ":material/payments:", "spend"),
]


def main() -> None:
    """Configure the app and run the page the URL asks for."""
    st.set_page_config(page_title="ModelAtlas", layout="wide")
    pages = [
        st.Page(PAGES / file, title=title, icon=icon, url_path=path, default=position == 0)
        for position, (file, title, icon, path) in enumerate(PAGE_LIST)
    ]
    st.navigation(pages).run()


main()
