"""Shore gateway: ingest, verify, dedupe, decrypt, enrich, hand to case management."""
