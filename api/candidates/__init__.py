"""HR's view of applications: listing, detail, status changes; withdrawal and erasure."""
