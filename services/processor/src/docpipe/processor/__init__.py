"""docpipe processor service."""
