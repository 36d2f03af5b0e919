"""The seven measures; each returns a MeasureResult."""
