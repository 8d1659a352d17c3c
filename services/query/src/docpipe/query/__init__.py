"""docpipe query service."""
