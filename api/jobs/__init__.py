"""Jobs, their screening criteria, shortlists and rebuild tasks."""
