"""How an asset tells `modelatlas run` what happened, in one line for its summary."""

# Materialization metadata under this key is printed in the run summary (and shown in the UI).
OUTCOME_METADATA_KEY = "modelatlas/outcome"
