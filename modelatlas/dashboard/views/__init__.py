"""The dashboard's pages, each a Streamlit script `app.py` lists in its navigation."""
