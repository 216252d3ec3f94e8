"""HTTP API (FastAPI): health, the operators' /ctl resources, offline OpenAPI docs; the
public resources (queues, agents, events) arrive with the API issue."""
