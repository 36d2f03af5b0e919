"""The eleven measures; each returns a MeasureResult."""
