"""Kafka producer and admin, the Kafka → Dramatiq bridge, résumé blobs and text extraction."""
