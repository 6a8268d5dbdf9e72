"""Login, refresh-token rotation, logout, and users of an organization."""
