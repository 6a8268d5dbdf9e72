"""The audit log of writes, for admins."""
