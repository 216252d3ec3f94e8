"""Calls' media through an ng engine (the builtin one or rtpengine): the node's media port.

Adapts the ng client (``switch/media/client.py``) to what call control and the IVR runner
need, using the IVR-leg recipe of ``switch/media/ivr.py`` (the engine plays the second party):
anchor a caller, take a new offer from it (re-INVITE), play prompts and music to it, render
text-to-speech once (``switch/media/tts.py``), and free everything. The ng call-id is the
call's own id, so the engine's events (DTMF...) name the call directly.

Agents. The caller's other party in the engine is one monologue, the *far side* (tag
``ivr-...``): the engine itself (a sink on port 9) while the caller is in the IVR or queued,
an agent's phone once one answers, the engine again if that agent is lost. Swapping who is
behind that tag is an ``offer``/``answer`` pair on the same tags, so the caller's port never
moves (no re-INVITE toward the caller) and the agent sends to the far side's port. Verified
on the builtin engine and rtpengine 10.5 (docs/calls.md). The agent is offered only the
codecs the caller already agreed with us, so the caller never has to change codec.
"""

from __future__ import annotations

import logging
import re
import secrets
import wave
from pathlib import Path

from ..media.client import MediaClient
from ..media.ivr import ENGINE_TAG_PREFIX, anchor_caller
from ..media.sdpmedia import describe, keep_formats, sink_answer
from ..media.tts import TtsCache

log = logging.getLogger(__name__)

REPEAT_FOREVER = 100_000  # music on hold: long enough for any wait, stopped when it ends


class EngineMedia:
    def __init__(self, client: MediaClient, tts: TtsCache) -> None:
        self.client = client
        self.tts_cache = tts
        self._engine_tags: dict[str, str] = {}
        self._answers: dict[str, tuple[int, str]] = {}  # call -> (origin version, answer)
        self._offers: dict[str, str] = {}  # call -> the caller's latest SDP offer
        self._agents: dict[str, str] = {}  # call -> the SDP of the agent on the far side
        # call -> where the caller sends (address, port, payload types), as last answered
        self._heard: dict[str, tuple[str, int, tuple[int, ...]] | str] = {}

    # -- MediaPort (call control) -------------------------------------------------------------

    async def anchor_caller(self, call_id: str, caller_tag: str, sdp: str) -> str:
        if not sdp:
            raise ValueError("the INVITE carries no SDP offer (offer-less INVITEs are not"
                             " answered yet)")
        answer, engine_tag = await anchor_caller(self.client, call_id, caller_tag, sdp)
        self._engine_tags[call_id] = engine_tag
        self._offers[call_id] = sdp
        self._answers[call_id] = (1, _without_origin(answer))
        self._heard[call_id] = _media_lines(answer)
        return answer

    async def update_caller(self, call_id: str, caller_tag: str, sdp: str) -> str:
        """A new offer from the caller (re-INVITE, UPDATE): the answer keeps the origin's
        version when nothing changed and raises it by one when something did (RFC 3264 §8).
        The origin is the one we give the engine-side party, which both engines pass on, so
        the version is set on the answer itself: one round trip to the engine."""
        version, previous = self._answers.get(call_id, (1, ""))
        self._offers[call_id] = sdp
        agent_sdp = self._agents.get(call_id)
        if agent_sdp is not None:  # an agent is on the far side: it stays there
            tag = self._engine_tags[call_id]
            await self.client.offer(call_id, caller_tag, sdp, to_tag=tag)
            answer = await self.client.answer(call_id, caller_tag, tag, agent_sdp)
        else:
            answer, _ = await anchor_caller(self.client, call_id, caller_tag, sdp,
                                            engine_tag=self._engine_tags.get(call_id))
        if _without_origin(answer) != previous:
            version += 1
        self._answers[call_id] = (version, _without_origin(answer))
        self._heard[call_id] = _media_lines(answer)
        return _ORIGIN_VERSION.sub(rf"\g<1>{version}\g<2>", answer, count=1)

    async def release(self, call_id: str) -> None:
        self._engine_tags.pop(call_id, None)
        self._answers.pop(call_id, None)
        self._offers.pop(call_id, None)
        self._agents.pop(call_id, None)
        self._heard.pop(call_id, None)
        await self.client.delete(call_id)

    # -- supervision (builtin engine: switch/media/supervision.py) -------------------------------

    async def supervise_offer(self, call_id: str, tag: str, mode: str) -> str:
        """Open a supervisor's party on the call; the SDP offer for its phone."""
        reply = await self.client.command("subscribe request", call_id=call_id, to_tag=tag,
                                          mode=mode)
        sdp = reply.get("sdp")
        if not isinstance(sdp, str | bytes):
            raise ValueError("the engine gave no SDP for the supervisor")
        return sdp.decode() if isinstance(sdp, bytes) else sdp

    async def supervise_answer(self, call_id: str, tag: str, sdp: str) -> None:
        await self.client.command("subscribe answer", call_id=call_id, to_tag=tag, sdp=sdp)

    async def supervise_mode(self, call_id: str, tag: str, mode: str) -> None:
        await self.client.command("supervise", call_id=call_id, to_tag=tag, mode=mode)

    async def unsupervise(self, call_id: str, tag: str) -> None:
        await self.client.command("unsubscribe", call_id=call_id, to_tag=tag)

    # -- calls we originate (click to dial) ----------------------------------------------------

    async def originate(self, call_id: str) -> str:
        """A call that starts with us: the engine offers to the first party (the agent's
        phone) as if a sink on port 9 called it; returns the SDP offer for that phone."""
        tag = ENGINE_TAG_PREFIX + secrets.token_hex(6)
        self._engine_tags[call_id] = tag
        sink = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                "m=audio 9 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
                "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n"
                "a=sendrecv\r\n")
        return await self.client.offer(call_id, tag, sink)

    async def first_answered(self, call_id: str, party_tag: str, sdp: str) -> None:
        """The first party (the agent) answered the engine's offer with ``sdp``."""
        await self.client.answer(call_id, self._engine_tags[call_id], party_tag, sdp)
        self._offers[call_id] = sdp
        self._answers[call_id] = (1, "")

    # -- agents on the far side ---------------------------------------------------------------

    async def offer_far_side(self, call_id: str, caller_tag: str) -> str:
        """The SDP offer for an agent's phone: the far side's address, the caller's codecs
        as agreed with the caller (several agents may be rung with the same offer)."""
        agreed = _payload_types(self._answers[call_id][1])
        offer = keep_formats(self._offers[call_id], agreed)
        return await self.client.offer(call_id, caller_tag, offer,
                                       to_tag=self._engine_tags[call_id])

    async def connect_far_side(self, call_id: str, caller_tag: str, agent_sdp: str, *,
                               lost_after: float | None = None) -> str | None:
        """The agent answered with ``agent_sdp``: the far side is now its phone. With
        ``lost_after``, the engine reports ``media_lost`` for the agent after that many
        seconds of silence (the builtin engine; rtpengine uses its own timeout). Returns a new
        SDP for the caller when the engine moved the caller's side (rtpengine may give it a
        new port): the caller must be re-offered it (re-INVITE); None when nothing changed
        (the builtin engine never moves it)."""
        answer = await self.client.answer(
            call_id, caller_tag, self._engine_tags[call_id], agent_sdp,
            media_timeout_ms=int(lost_after * 1000) if lost_after else None)
        self._agents[call_id] = agent_sdp
        return self._changed(call_id, answer)

    def _changed(self, call_id: str, answer: str) -> str | None:
        """``answer`` (for the caller) with its origin version raised when it differs from
        what the caller has (RFC 3264 §8); None when it does not."""
        version, _ = self._answers.get(call_id, (1, ""))
        heard = _media_lines(answer)
        if heard == self._heard.get(call_id):
            return None
        self._heard[call_id] = heard
        version += 1
        self._answers[call_id] = (version, _without_origin(answer))
        return _ORIGIN_VERSION.sub(rf"\g<1>{version}\g<2>", answer, count=1)

    async def play_far_side(self, call_id: str, path: Path, *, loop: bool = False) -> float:
        """Play to whoever is on the far side (a mobile agent's "press 1 to accept")."""
        return await self.play(call_id, self._engine_tags[call_id], path, loop=loop)

    async def stop_far_side(self, call_id: str) -> None:
        await self.stop(call_id, self._engine_tags[call_id])

    def is_far_side(self, call_id: str, tag: str) -> bool:
        """Whether ``tag`` (in an engine event) is the far side of ``call_id``."""
        return self._engine_tags.get(call_id) == tag and call_id in self._agents

    def far_tag(self, call_id: str) -> str | None:
        return self._engine_tags.get(call_id)

    async def disconnect_far_side(self, call_id: str, caller_tag: str) -> str | None:
        """The far side is the engine again (music, prompts): the agent was lost. Returns a
        new SDP for the caller when its side moved (see :meth:`connect_far_side`)."""
        if self._agents.pop(call_id, None) is None:
            return None
        tag = self._engine_tags[call_id]
        version = self._answers.get(call_id, (1, ""))[0]
        offer = await self.client.offer(call_id, caller_tag, self._offers[call_id], to_tag=tag)
        answer = await self.client.answer(call_id, caller_tag, tag, sink_answer(offer, version))
        return self._changed(call_id, answer)

    # -- what the IVR runner plays ------------------------------------------------------------

    async def play(self, call_id: str, caller_tag: str, path: Path, *,
                   loop: bool = False) -> float:
        """Play ``path`` to the caller; the seconds it lasts (once through)."""
        reply = await self.client.play_media(call_id, caller_tag, str(path),
                                             repeat=REPEAT_FOREVER if loop else None)
        duration = reply.get("duration")
        if isinstance(duration, int | float) and duration > 0:
            return float(duration) / 1000.0
        return wav_seconds(path)

    async def stop(self, call_id: str, caller_tag: str) -> None:
        await self.client.stop_media(call_id, caller_tag)

    async def tts(self, text: str, voice: str | None = None) -> Path:
        return await self.tts_cache.render(text, voice)

    async def record(self, call_id: str) -> None:
        """Record the call (the engine writes stereo WAV: caller left, other party right, and
        reports the file in a ``recording`` event)."""
        await self.client.start_recording(call_id)

    async def stop_recording(self, call_id: str) -> None:
        await self.client.stop_recording(call_id)


# o=<user> <session id> <version> <nettype> ...: the third field is the version.
_ORIGIN_VERSION = re.compile(r"(?m)^(o=\S+ \S+ )\d+( )")


def _payload_types(sdp: str) -> set[int]:
    """The payload types of the first audio stream of ``sdp``."""
    for line in sdp.splitlines():
        if line.startswith("m=audio "):
            return {int(pt) for pt in line.split()[3:] if pt.isdigit()}
    return set()


def _media_lines(sdp: str) -> tuple[str, int, tuple[int, ...]] | str:
    """Where the caller sends and what: the audio stream's address, port and payload types
    (however the SDP spells them: session- or media-level c=, attributes aside)."""
    try:
        _, info = describe(sdp)
    except ValueError:
        return sdp
    return info.address, info.port, tuple(f.pt for f in info.formats)


def _without_origin(sdp: str) -> str:
    return "\n".join(line for line in sdp.splitlines() if not line.startswith("o="))


def wav_seconds(path: Path) -> float:
    """Length of a WAV file (a G.711 .raw/.ul/.al file: 8,000 bytes a second)."""
    try:
        with wave.open(str(path), "rb") as reader:
            return reader.getnframes() / float(reader.getframerate())
    except (wave.Error, EOFError, OSError):
        try:
            return path.stat().st_size / 8000.0
        except OSError:
            return 0.0
