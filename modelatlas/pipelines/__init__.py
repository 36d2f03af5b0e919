"""Pure extraction: dlt sources and their HTTP clients. Nothing here imports Dagster."""
