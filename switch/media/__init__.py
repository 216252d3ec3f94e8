"""Media: the builtin RTP engine and the node's client for any ng engine (builtin or rtpengine).

Pure cores (no I/O, no clock: ``now`` is an argument): :mod:`.rtp`, :mod:`.codecs`,
:mod:`.dtmf`, :mod:`.bencode`, :mod:`.ng`, :mod:`.ports`, :mod:`.quality`, :mod:`.sdpmedia`,
:mod:`.audio`, :mod:`.player`, :mod:`.recorder`, :mod:`.session`.
Edges: :mod:`.engine` with :mod:`.commands` and ``python -m switch.media`` (the engine
process), :mod:`.client`, :mod:`.events`, :mod:`.supervisor`, :mod:`.tts`, :mod:`.ivr`.
See docs/media.md.
"""

from .client import MediaClient, MediaError, MediaTimeout, parse_engine_url
from .events import MediaEvents
from .ivr import anchor_caller

__all__ = ["MediaClient", "MediaError", "MediaEvents", "MediaTimeout", "anchor_caller",
           "parse_engine_url"]
