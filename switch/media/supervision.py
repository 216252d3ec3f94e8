"""The builtin engine's supervision commands: a supervisor joins a call to listen, whisper
to the agent, or barge in (mixing: ``mixer.py``). Mixed into :class:`switch.media.engine.
Engine` beside the standard commands.

These are builtin extensions, named after rtpengine's media-forking messages but not the
same: rtpengine's ``subscribe request`` forks media to a listener only, so with rtpengine as
the engine a supervisor can listen at most (docs/media.md).

- ``subscribe request`` (``call-id``, ``to-tag``: the supervisor's new tag, ``mode``): opens
  the supervisor's leg; the reply's ``sdp`` is the offer for the supervisor's phone, in the
  caller's codec;
- ``subscribe answer`` (``call-id``, ``to-tag``, ``sdp``): the phone's answer; mixing starts;
- ``supervise`` (``call-id``, ``to-tag``, ``mode``): listen, whisper or barge from now on;
- ``unsubscribe`` (``call-id``, ``to-tag``): the supervisor leaves; caller and agent are
  relayed directly again.
"""

from __future__ import annotations

from typing import Any

from .mixer import Mixer
from .ng import Command, NgError
from .sdpmedia import TELEPHONE_EVENT, describe
from .session import Call, Leg

__all__ = ["SupervisionMixin"]


class SupervisionMixin:
    # provided by Engine and CommandsMixin
    calls: dict[str, Call]
    address: str
    mixing: set[Call]

    async def open_leg(self, call: Call, tag: str) -> Leg:
        raise NotImplementedError

    def close_leg(self, leg: Leg) -> None:
        raise NotImplementedError

    def _call(self, cmd: Command) -> Call:
        raise NotImplementedError

    def _parties(self, call: Call) -> tuple[Leg, Leg]:
        caller = call.legs.get(call.caller_tag or "")
        agent = caller.peer if caller is not None else None
        if caller is None or agent is None or agent.sink or caller.send_format is None:
            raise NgError("the call has no two connected parties to supervise")
        return caller, agent

    async def cmd_subscribe_request(self, cmd: Command) -> dict[str, Any]:
        call = self._call(cmd)
        tag, mode = cmd.to_tag, cmd.get_str("mode") or "listen"
        if not tag:
            raise NgError("No to-tag in message")
        if tag in call.legs:
            raise NgError("to-tag already in use")
        caller, _ = self._parties(call)
        fmt = caller.send_format
        assert fmt is not None
        Mixer(caller.tag, tag, tag, mode)  # validates the mode before any port is taken
        leg = await self.open_leg(call, tag)
        leg.mix_mode = mode
        family = "IP6" if ":" in self.address else "IP4"
        sdp = "\r\n".join([
            "v=0", f"o=- {leg.port} 1 IN {family} {self.address}", "s=supervision",
            f"c=IN {family} {self.address}", "t=0 0",
            f"m=audio {leg.port} RTP/AVP {fmt.pt}", f"a=rtpmap:{fmt.rtpmap()}",
            "a=ptime:20", "a=sendrecv", ""])
        return {"sdp": sdp, "to-tag": tag}

    async def cmd_subscribe_answer(self, cmd: Command) -> dict[str, Any]:
        call = self._call(cmd)
        leg = call.legs.get(cmd.to_tag or "")
        if leg is None or not leg.mix_mode:
            raise NgError("Unknown to-tag")
        assert cmd.sdp is not None
        try:
            _, media = describe(cmd.sdp)
        except ValueError as exc:
            raise NgError(str(exc)) from exc
        caller, agent = self._parties(call)
        voice = [f for f in media.formats if f.name != TELEPHONE_EVENT]
        if not voice or caller.send_format is None or not voice[0].same_codec(
                caller.send_format):
            raise NgError("the supervisor must answer with the caller's codec")
        leg.renegotiated(media)
        leg.expect_ips = {media.address}
        leg.incoming = voice[:1]
        leg.send_format = voice[0]
        self._start_mixing(call, Mixer(caller.tag, agent.tag, leg.tag, leg.mix_mode))
        return {}

    async def cmd_supervise(self, cmd: Command) -> dict[str, Any]:
        call = self._call(cmd)
        mixer = call.mixer
        if mixer is None or (cmd.to_tag or "") not in mixer.roles:
            raise NgError("the call is not supervised by that to-tag")
        try:
            mixer.set_mode(cmd.get_str("mode") or "")
        except ValueError as exc:
            raise NgError(str(exc)) from exc
        return {}

    async def cmd_unsubscribe(self, cmd: Command) -> dict[str, Any]:
        call = self._call(cmd)
        leg = call.legs.get(cmd.to_tag or "")
        if leg is None or not leg.mix_mode:
            raise NgError("Unknown to-tag")
        self._stop_mixing(call)
        del call.legs[leg.tag]
        self.close_leg(leg)
        return {}

    def _start_mixing(self, call: Call, mixer: Mixer) -> None:
        call.mixer = mixer
        for leg in call.legs.values():
            leg.mixer = mixer
            leg.splice = None
        self.mixing.add(call)

    def _stop_mixing(self, call: Call) -> None:
        call.mixer = None
        for leg in call.legs.values():
            leg.mixer = None
            leg.splice = None  # relayed audio carries on from the mixed stream
        self.mixing.discard(call)
