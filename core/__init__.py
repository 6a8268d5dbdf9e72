"""Shared kernel: settings, database, migrations, domain models, events, logging."""
