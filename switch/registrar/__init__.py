"""Registrar: the location service, digest-authenticated REGISTER handling and the keepalive
of registered contacts. ``locations``, ``registrar`` and ``qualify`` are pure (``now`` is an
argument); ``guard`` holds the rate limiter and the auth-failure ban."""
