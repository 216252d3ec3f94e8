"""HTTP API (FastAPI). For now only health; resources arrive with later issues."""
