"""The builtin engine's ng commands (rtpengine's README, one section per message): what each
does to calls and legs. Mixed into :class:`switch.media.engine.Engine`, which owns sockets,
timers and files; this module is the command semantics.

Differences from rtpengine that a caller may notice are deliberate and listed in
docs/media.md: one audio stream per call is anchored, ``delete`` always ends the whole call,
recordings are stereo WAV under the data directory (rtpengine writes pcap or hands frames to
its recording daemon), and ``play media``'s relative paths are relative to the data directory.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .audio import load_frames
from .codecs import CODECS
from .dtmf import digit_to_event
from .ng import Command, NgError
from .player import Outbound
from .ports import PortRange
from .recorder import StereoRecorder
from .sdpmedia import TELEPHONE_EVENT, Format, describe, rewrite
from .session import Call, Leg, answer_formats, build_routes, offer_formats

__all__ = ["CommandsMixin"]

PENDING = ""  # the tag of the answerer before its answer names it (rtpengine does the same)


def _first_voice(formats: list[Format]) -> Format | None:
    return next((f for f in formats if f.name in CODECS), None)


def _te(formats: list[Format]) -> int | None:
    return next((f.pt for f in formats if f.name == TELEPHONE_EVENT), None)


class CommandsMixin:
    # provided by Engine
    calls: dict[str, Call]
    mixing: set[Call]
    ports: PortRange
    address: str
    config: Any

    async def open_leg(self, call: Call, tag: str) -> Leg:
        raise NotImplementedError

    def close_leg(self, leg: Leg) -> None:
        raise NotImplementedError

    def activate(self, leg: Leg) -> None:
        raise NotImplementedError

    def emit(self, event: dict[str, Any]) -> None:
        raise NotImplementedError

    def load_frames(self, path: str, codec_name: str) -> list[bytes]:
        raise NotImplementedError

    def open_recording_file(self, call: Call) -> Any:
        raise NotImplementedError

    def write_recording(self, call: Call, now: float, final: bool = False) -> None:
        raise NotImplementedError

    @staticmethod
    def new_ssrc() -> int:
        raise NotImplementedError

    async def dispatch(self, cmd: Command) -> dict[str, Any]:
        handler = getattr(self, "cmd_" + cmd.name.lower().replace(" ", "_"))
        result: dict[str, Any] = await handler(cmd)
        result.setdefault("result", "ok")
        return result

    # -- signalling -------------------------------------------------------------------------

    async def cmd_ping(self, cmd: Command) -> dict[str, Any]:
        return {"result": "pong"}

    async def cmd_offer(self, cmd: Command) -> dict[str, Any]:
        assert cmd.from_tag is not None and cmd.sdp is not None
        try:
            sdp, media = describe(cmd.sdp)
        except ValueError as exc:
            raise NgError(str(exc)) from exc
        outgoing = offer_formats(media.formats, cmd.codec)
        call = self.calls.get(cmd.call_id)
        if call is None:
            call = self.calls[cmd.call_id] = Call(cmd.call_id, time.time())
        call.last_signal = time.time()
        offerer = call.legs.get(cmd.from_tag) or await self.open_leg(call, cmd.from_tag)
        self._still_there(call)
        if call.caller_tag is None:
            call.caller_tag = offerer.tag
            offerer.is_caller = True
        answerer = offerer.peer
        if answerer is None:
            tag = cmd.to_tag or PENDING
            answerer = call.legs.get(tag) or await self.open_leg(call, tag)
            self._still_there(call)
            offerer.peer, answerer.peer = answerer, offerer
        offerer.renegotiated(media)
        offerer.expect_ips = {media.address}
        received = cmd.raw.get("received from") or cmd.raw.get("received-from")
        if isinstance(received, list) and len(received) == 2 and isinstance(received[1], str):
            offerer.expect_ips.add(received[1])
        if "sip source address" in cmd.flags and isinstance(received, list):
            offerer.expect_ips = {str(received[1])}
        offerer.label = cmd.get_str("label") or offerer.label
        answerer.incoming = outgoing
        answerer.te_in_pt = _te(outgoing)
        call.codec_ops = cmd.codec
        return {"sdp": rewrite(sdp, media, self.address, answerer.port, outgoing)}

    async def cmd_answer(self, cmd: Command) -> dict[str, Any]:
        assert cmd.from_tag is not None and cmd.to_tag is not None and cmd.sdp is not None
        call = self.calls.get(cmd.call_id)
        offerer = call.legs.get(cmd.from_tag) if call else None
        if call is None or offerer is None or offerer.media is None:
            raise NgError("Unknown call-id or from-tag")
        answerer = call.legs.get(cmd.to_tag)
        if answerer is None:
            answerer = call.legs.pop(PENDING, None)
            if answerer is None:
                raise NgError("Unknown to-tag")
            answerer.tag = cmd.to_tag
            call.legs[cmd.to_tag] = answerer
        try:
            sdp, media = describe(cmd.sdp)
        except ValueError as exc:
            raise NgError(str(exc)) from exc
        call.last_signal = time.time()
        answerer.renegotiated(media)
        answerer.expect_ips = {media.address}
        # builtin extension (rtpengine ignores the key): a short media timeout for this party
        timeout_ms = cmd.get_int("media-timeout-ms")
        answerer.media_timeout = timeout_ms / 1000.0 if timeout_ms and timeout_ms > 0 else None
        ops = call.codec_ops
        try:
            offerer.incoming = answer_formats(offerer.media.formats, media.formats, ops)
        except ValueError as exc:
            raise NgError(str(exc)) from exc
        offerer.te_in_pt = _te(offerer.incoming)
        offerer.routes = build_routes(offerer, answerer)
        answerer.routes = build_routes(answerer, offerer)
        offerer.send_format = _first_voice(offerer.incoming)
        answerer.send_format = _first_voice(media.formats)
        offerer.te_pt = _te(offerer.media.formats) if offerer.te_in_pt is not None else None
        answerer.te_pt = _te(media.formats)
        now = time.monotonic()
        offerer.armed_at = answerer.armed_at = now
        return {"sdp": rewrite(sdp, media, self.address, offerer.port, offerer.incoming)}

    async def cmd_delete(self, cmd: Command) -> dict[str, Any]:
        stats = self.delete_call(cmd.call_id)
        if stats is None:
            if "fatal" in cmd.flags:
                raise NgError("Call-ID not found or tags didn't match")
            return {"warning": "Call-ID not found or tags didn't match"}
        return stats

    def _still_there(self, call: Call) -> None:
        """Opening a leg waits (socket setup); a ``delete`` may have run meanwhile. Then the
        legs opened for the deleted call are closed here, or their ports would leak."""
        if self.calls.get(call.call_id) is not call:
            for leg in list(call.legs.values()):
                self.close_leg(leg)
            call.legs.clear()
            raise NgError("call deleted while it was being set up")

    def delete_call(self, call_id: str) -> dict[str, Any] | None:
        call = self.calls.pop(call_id, None)
        if call is None:
            return None
        stats = call.query(time.time(), self.address)
        self.mixing.discard(call)
        if call.recording:
            self._finish_recording(call)
        for leg in call.legs.values():
            self.close_leg(leg)
        return stats

    async def cmd_query(self, cmd: Command) -> dict[str, Any]:
        call = self._call(cmd)
        return call.query(time.time(), self.address)

    async def cmd_list(self, cmd: Command) -> dict[str, Any]:
        limit = cmd.get_int("limit", 32) or 32
        return {"calls": list(self.calls)[:limit]}

    async def cmd_statistics(self, cmd: Command) -> dict[str, Any]:
        legs = sum(len(c.legs) for c in self.calls.values())
        return {"statistics": {"currentstatistics": {"sessionsown": len(self.calls),
                                                     "sessionsforeign": 0,
                                                     "sessionstotal": len(self.calls)}},
                # builtin extra: the leak counters
                "ports": {"in use": self.ports.in_use, "free": self.ports.free,
                          "legs": legs}}

    # -- media ------------------------------------------------------------------------------

    def _call(self, cmd: Command) -> Call:
        call = self.calls.get(cmd.call_id)
        if call is None:
            raise NgError("Unknown call-id")
        return call

    def _party(self, cmd: Command) -> Leg:
        call = self._call(cmd)
        leg = call.legs.get(cmd.from_tag or "")
        if leg is None:
            raise NgError("No participant party specified" if not cmd.from_tag
                          else "Unknown from-tag")
        return leg

    def _outbound(self, leg: Leg) -> Outbound:
        if leg.outbound is None:
            if leg.send_format is None:
                raise NgError("the party has not negotiated a G.711 codec yet")
            leg.outbound = Outbound(self.new_ssrc(), leg.send_format.pt, leg.te_pt,
                                    self.new_ssrc() & 0xFFFF, self.new_ssrc())
        outbound: Outbound = leg.outbound
        return outbound

    async def cmd_play_media(self, cmd: Command) -> dict[str, Any]:
        leg = self._party(cmd)
        if leg.sink or leg.send_format is None:
            raise NgError("the party has no media to play to")
        codec = leg.send_format.name
        blob = cmd.raw.get("blob")
        file = cmd.get_str("file")
        if isinstance(blob, bytes | str):
            raw = blob.encode("latin-1") if isinstance(blob, str) else blob
            frames = load_frames("blob.wav", raw, CODECS[codec])
            file = "blob"
        elif file:
            frames = self.load_frames(file, codec)
        else:
            raise NgError("No media file specified")
        repeat = cmd.get_int("repeat-times", 1) or 1
        self._outbound(leg).play(frames, repeat, Path(file).name)
        self.activate(leg)
        return {"duration": len(frames) * 20}

    async def cmd_stop_media(self, cmd: Command) -> dict[str, Any]:
        leg = self._party(cmd)
        if leg.outbound is None or not leg.outbound.playing_audio:
            raise NgError("Not currently playing media")
        leg.outbound.stop()
        return {}

    async def cmd_play_dtmf(self, cmd: Command) -> dict[str, Any]:
        """The selected party *generates* the digit; its peer receives it (rtpengine)."""
        leg = self._party(cmd)
        target = leg.peer
        if target is None or target.sink or target.te_pt is None:
            raise NgError("Sink monologue has no media capable of DTMF playback")
        code = cmd.raw.get("code", cmd.raw.get("digit"))
        try:
            event = digit_to_event(code if isinstance(code, int | str) else "")
        except ValueError as exc:
            raise NgError("Out of range 'code' specified") from exc
        duration = max(100, min(5000, cmd.get_int("duration", 250) or 250))
        volume = abs(cmd.get_int("volume", 8) or 8)
        self._outbound(target).queue_digit(event, duration, volume)
        self.activate(target)
        return {}

    # -- recording --------------------------------------------------------------------------

    async def cmd_start_recording(self, cmd: Command) -> dict[str, Any]:
        call = self._call(cmd)
        caller = call.legs.get(call.caller_tag or "")
        if caller is None:
            raise NgError("call has no caller leg to record")
        if call.recording and caller.recorder is not None:
            caller.recorder.resume(time.monotonic())  # resume after a pause
            return {}
        path, handle = self.open_recording_file(call)
        call.recording_file = (path, handle)
        caller.recorder = StereoRecorder(time.monotonic())
        call.recording = True
        self.emit({"type": "recording", "state": "started", "callid": call.call_id,
                   "file": str(path)})
        return {}

    async def cmd_stop_recording(self, cmd: Command) -> dict[str, Any]:
        call = self._call(cmd)
        if "pause" in cmd.flags or cmd.get_str("pause") in ("yes", "1"):
            return await self.cmd_pause_recording(cmd)
        if call.recording:
            self._finish_recording(call)
        return {}

    async def cmd_pause_recording(self, cmd: Command) -> dict[str, Any]:
        call = self._call(cmd)
        caller = call.legs.get(call.caller_tag or "")
        if not call.recording or caller is None or caller.recorder is None:
            raise NgError("call is not being recorded")
        caller.recorder.pause(time.monotonic())
        return {}

    def _finish_recording(self, call: Call) -> None:
        self.write_recording(call, time.monotonic(), final=True)
        path, handle = call.recording_file
        call.recording_file = None
        handle.close()
        caller = call.legs.get(call.caller_tag or "")
        duration = caller.recorder.duration if caller and caller.recorder else 0.0
        if caller is not None:
            caller.recorder = None
        call.recording = False
        self.emit({"type": "recording", "state": "finished", "callid": call.call_id,
                   "file": str(path), "duration": round(duration, 2)})
