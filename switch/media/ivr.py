"""The "IVR leg" recipe: anchor a caller whose other party is the media engine itself.

Theory of operation
-------------------
An IVR call has one SIP leg: the caller talks to the node, which plays prompts and reads
digits. The engines are built for two parties (offer from one, answer from the other), so the
node plays the second party itself, in the same ng commands on both engines (verified against
rtpengine 10.5, see docs/media.md):

1. ``offer`` with the caller's SDP and the caller's tag. The reply is the SDP the engine would
   send to an answerer; it tells the engine's address and codecs.
2. ``answer`` with the caller's tag, a fresh engine-side tag, and :func:`~switch.media.
   sdpmedia.sink_answer` of that SDP: the first codec plus telephone-event, ``sendrecv``, at
   the engine's own address on port 9 (discard, RFC 863). The reply is the SDP answer for the
   caller.
3. From then on: ``play media`` with the **caller's** tag plays to the caller; the caller's
   RFC 4733 digits arrive as DTMF events with ``source_tag`` = the caller's tag;
   ``start recording`` records the call; ``delete`` frees everything.

Why not rtpengine's ``media echo: blackhole``: it discards the caller's packets before DTMF
detection, so no digit is ever reported. Why not ``publish``: its answer is ``recvonly``, so
nothing could be played to the caller. Port 9 costs rtpengine one pointless send per caller
packet, which the builtin engine avoids (a party on port 9 is a sink).
"""

from __future__ import annotations

import secrets
from typing import Any

from .client import MediaClient
from .sdpmedia import sink_answer

__all__ = ["ENGINE_TAG_PREFIX", "anchor_caller"]

ENGINE_TAG_PREFIX = "ivr-"


async def anchor_caller(client: MediaClient, call_id: str, caller_tag: str, sdp: str,
                        engine_tag: str | None = None, version: int = 1,
                        **flags: Any) -> tuple[str, str]:
    """Anchor a caller with the engine as the other party; returns (the SDP answer for the
    caller, the engine-side tag). Call it again with the same ``engine_tag`` for a new offer
    from the caller (re-INVITE), with a higher ``version`` when the answer changes (RFC 3264
    §8). ``flags`` go to both commands (e.g. ``codec``)."""
    engine_tag = engine_tag or ENGINE_TAG_PREFIX + secrets.token_hex(6)
    engine_offer = await client.offer(call_id, caller_tag, sdp, **flags)
    answer = await client.answer(call_id, caller_tag, engine_tag,
                                 sink_answer(engine_offer, version), **flags)
    return answer, engine_tag
