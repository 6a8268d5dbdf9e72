"""Operations: the ``pvara`` CLI, local services, pools, dashboard, metrics, reports."""
