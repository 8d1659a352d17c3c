"""docpipe upload service."""
