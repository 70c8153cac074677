"""Personal API keys: long-lived, scoped credentials for scripts and integrations."""
