"""Call control: the RFC 3261 §8/§12/§13 user-agent layer, legs and calls (pure), and the
asyncio edge that runs them with the media engine and the IVR (``service.py``)."""
