"""minerflow's HTTP API (FastAPI): reads the index, never writes it."""
