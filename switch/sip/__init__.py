"""Sans-I/O SIP core: bytes and ``now`` in; bytes, events and the next deadline out.

Nothing in this package imports asyncio, sockets or a clock (``tests/test_layering.py``).
"""
