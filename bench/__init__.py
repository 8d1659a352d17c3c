"""docpipe benchmarks: commands that print figures and conditions (never tests)."""
