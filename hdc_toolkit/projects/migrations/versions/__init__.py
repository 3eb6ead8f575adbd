"""Registry migration scripts (one file per revision)."""
