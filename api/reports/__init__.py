"""Finance reports (``/api/v1/reports``)."""
