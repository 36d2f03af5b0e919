"""The dashboard: a Streamlit explorer over the `marts` schema, read through the read-only role."""
