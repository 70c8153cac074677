"""Per-user files: streamed uploads, quotas, private downloads, local or S3 storage."""
