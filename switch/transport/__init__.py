"""SIP transports: UDP, TCP, TLS, WS and WSS behind one :class:`TransportManager`.

The only package with SIP sockets. See docs/transports.md.
"""

from .base import Counters, MessageHandler
from .manager import TransportManager

__all__ = ["Counters", "MessageHandler", "TransportManager"]
