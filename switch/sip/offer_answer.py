"""The offer/answer model (RFC 3264) over :mod:`switch.sip.sdp`.

Theory of operation
-------------------
:func:`build_answer` takes a remote offer and our :class:`Capabilities` and returns the answer
plus what was agreed for each stream (:class:`NegotiatedStream`), which is what the media layer
needs: where to send, which payload types, which direction. The rules applied:

* the answer has exactly as many ``m=`` lines as the offer, in the same order (§6);
* a stream we cannot take (unknown media or transport, no common codec, port 0 in the offer) is
  refused with port 0, keeping the media type, transport and a format list (§6, §8.2);
* codecs match by encoding name (case-insensitive), clock rate and channels; a static payload
  type without ``rtpmap`` (0 = PCMU, 8 = PCMA...) is understood from RFC 3551's table; the answer
  reuses the offer's payload type numbers (§6.1) and lists codecs in our order of preference;
* ``telephone-event`` (RFC 4733) is answered at the clock rate of the chosen voice codec, with
  the events both sides support (§2.4.1 of RFC 4733);
* direction (§6.1): we send only if the offerer receives, and receive only if it sends; the old
  hold form ``c=0.0.0.0`` (RFC 2543, RFC 3264 §8.4) means the offerer does not want media
  (unless the stream uses ICE, where 0.0.0.0 is a placeholder);
* our ``o=`` line keeps its session id and increments its version by one for each new
  description that differs from the previous one, and only then (§5, §8).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from .errors import ParseError
from .sdp import Connection, MediaDescription, Origin, SessionDescription

__all__ = ["STATIC_PAYLOAD_TYPES", "Capabilities", "Codec", "NegotiatedStream", "OfferAnswer",
           "SdpSession", "build_answer", "build_offer", "codecs_of", "negotiate_direction"]

# RFC 3551 §6 static audio payload types we may meet without an rtpmap.
STATIC_PAYLOAD_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("PCMU", 8000, 1), 3: ("GSM", 8000, 1), 4: ("G723", 8000, 1), 8: ("PCMA", 8000, 1),
    9: ("G722", 8000, 1), 18: ("G729", 8000, 1),
}
_STATIC_BY_NAME = {(name, rate, ch): pt for pt, (name, rate, ch) in STATIC_PAYLOAD_TYPES.items()}
TELEPHONE_EVENT = "telephone-event"
FIRST_DYNAMIC_PT = 96


@dataclass(frozen=True, slots=True)
class Codec:
    """A payload format we can handle (``name`` as in rtpmap, e.g. ``PCMU``)."""

    name: str
    clock_rate: int = 8000
    channels: int = 1
    fmtp: str | None = None

    def matches(self, name: str, clock_rate: int, channels: int | None) -> bool:
        return (self.name.lower() == name.lower() and self.clock_rate == clock_rate
                and self.channels == (channels or 1))

    @property
    def static_payload_type(self) -> int | None:
        return _STATIC_BY_NAME.get((self.name.upper(), self.clock_rate, self.channels))


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What we can do for audio: codecs by preference, DTMF events, address and port."""

    address: str
    audio_port: int
    codecs: tuple[Codec, ...] = (Codec("PCMU"), Codec("PCMA"))
    telephone_events: str | None = "0-16"  # None: no RFC 4733 DTMF
    ptime: int | None = 20
    direction: str = "sendrecv"  # what we want; the answer may narrow it
    protocols: tuple[str, ...] = ("RTP/AVP",)
    rtcp_mux: bool = False  # accept a=rtcp-mux when offered (WebRTC legs)
    media_attributes: tuple[tuple[str, str | None], ...] = ()  # e.g. ICE/DTLS from a gateway
    username: str = "switchboard"
    session_name: str = "-"

    @property
    def addrtype(self) -> str:
        return "IP6" if ":" in self.address else "IP4"


@dataclass(frozen=True, slots=True)
class NegotiatedStream:
    """The agreement for one ``m=`` line (``accepted`` False: refused with port 0)."""

    index: int
    media: str
    accepted: bool
    remote_address: str | None = None
    remote_port: int = 0
    payload_types: tuple[tuple[int, Codec], ...] = ()  # first is the one to send
    telephone_event_pt: int | None = None
    direction: str = "inactive"  # ours: "sendonly" means we send, they do not
    ptime: int | None = None
    rtcp_mux: bool = False


@dataclass(frozen=True, slots=True)
class OfferAnswer:
    answer: SessionDescription
    streams: tuple[NegotiatedStream, ...]


class SdpSession:
    """Our side of one SDP session: stable ``o=`` session id, version bumped on change (§8)."""

    def __init__(self, session_id: int, username: str = "switchboard",
                 address: str = "127.0.0.1") -> None:
        self.origin = Origin(username, str(session_id), session_id,
                             "IN", "IP6" if ":" in address else "IP4", address)
        self._last: bytes | None = None

    def stamp(self, sdp: SessionDescription) -> SessionDescription:
        """Give ``sdp`` our origin; bump the version when it differs from the last one sent."""
        sdp.origin = replace(self.origin)
        body = sdp.serialize()
        if self._last is not None and body != self._last:
            self.origin.version += 1
            sdp.origin = replace(self.origin)
            body = sdp.serialize()
        self._last = body
        return sdp

    @property
    def version(self) -> int:
        return self.origin.version


def negotiate_direction(offered: str, wanted: str, offer_can_receive: bool = True) -> str:
    """Our direction in the answer (§6.1) from the offered one and the one we want."""
    they_send = offered in ("sendrecv", "sendonly")
    they_receive = offered in ("sendrecv", "recvonly") and offer_can_receive
    we_send = wanted in ("sendrecv", "sendonly") and they_receive
    we_receive = wanted in ("sendrecv", "recvonly") and they_send
    return {(True, True): "sendrecv", (True, False): "sendonly",
            (False, True): "recvonly", (False, False): "inactive"}[(we_send, we_receive)]


def _offered_codecs(media: MediaDescription) -> list[tuple[int, str, int, int | None]]:
    """(pt, name, clock rate, channels) for each offered format we can identify."""
    try:
        rtpmaps = media.rtpmaps()
    except ParseError:
        rtpmaps = {}
    found = []
    for fmt in media.formats:
        if not fmt.isdigit():
            continue
        pt = int(fmt)
        if pt in rtpmaps:
            m = rtpmaps[pt]
            found.append((pt, m.encoding, m.clock_rate, m.channels))
        elif pt in STATIC_PAYLOAD_TYPES:
            name, rate, channels = STATIC_PAYLOAD_TYPES[pt]
            found.append((pt, name, rate, channels))
    return found


def _event_ranges(text: str) -> set[int]:
    events: set[int] = set()
    for part in text.replace(" ", "").split(","):
        low, _, high = part.partition("-")
        if low.isdigit() and (not high or high.isdigit()):
            events.update(range(int(low), int(high or low) + 1))
    return {e for e in events if e <= 255}


def _render_events(events: set[int]) -> str:
    ranges: list[str] = []
    for event in sorted(events):
        if ranges and event == int(ranges[-1].split("-")[-1]) + 1:
            ranges[-1] = f"{ranges[-1].split('-')[0]}-{event}"
        else:
            ranges.append(str(event))
    return ",".join(ranges)


def _refuse(index: int, offered: MediaDescription) -> tuple[MediaDescription, NegotiatedStream]:
    formats = offered.formats[:1] or ["0"]
    return (MediaDescription(offered.media, 0, offered.proto, formats),
            NegotiatedStream(index, offered.media, accepted=False))


def _answer_audio(index: int, offer: SessionDescription, offered: MediaDescription,
                  caps: Capabilities, audio_taken: bool,
                  ) -> tuple[MediaDescription, NegotiatedStream]:
    if (offered.media != "audio" or offered.rejected or audio_taken
            or offered.proto not in caps.protocols):
        return _refuse(index, offered)
    codecs = _offered_codecs(offered)
    chosen: list[tuple[int, Codec]] = []
    for codec in caps.codecs:  # our preference order
        for pt, name, rate, channels in codecs:
            if codec.matches(name, rate, channels) and all(p != pt for p, _ in chosen):
                chosen.append((pt, codec))
                break
    if not chosen:
        return _refuse(index, offered)
    answer = MediaDescription("audio", caps.audio_port, offered.proto, [])
    for pt, codec in chosen:
        answer.formats.append(str(pt))
        answer.add_attribute("rtpmap", f"{pt} {codec.name}/{codec.clock_rate}"
                             + (f"/{codec.channels}" if codec.channels != 1 else ""))
        if codec.fmtp:
            answer.add_attribute("fmtp", f"{pt} {codec.fmtp}")
    event_pt = None
    if caps.telephone_events is not None:
        rate = chosen[0][1].clock_rate
        for pt, name, clock, _ in codecs:
            if name.lower() == TELEPHONE_EVENT and clock == rate:
                theirs = offered.fmtp(pt)
                common = _event_ranges(caps.telephone_events) & _event_ranges(theirs or "0-15")
                if common:
                    event_pt = pt
                    answer.formats.append(str(pt))
                    answer.add_attribute("rtpmap", f"{pt} {TELEPHONE_EVENT}/{rate}")
                    answer.add_attribute("fmtp", f"{pt} {_render_events(common)}")
                break
    connection = offer.connection_for(offered)
    # c=0.0.0.0 is the RFC 2543 hold only without ICE: a WebRTC offer uses it as a placeholder
    # for its candidates (JSEP, RFC 8829 §5.2.1: port 9, c=IN IP4 0.0.0.0)
    uses_ice = offered.has_attribute("ice-ufrag") or offer.has_attribute("ice-ufrag")
    can_receive = uses_ice or not (connection is not None and connection.is_hold_address)
    direction = negotiate_direction(offer.direction_for(offered), caps.direction, can_receive)
    if caps.ptime:
        answer.add_attribute("ptime", str(caps.ptime))
    mux = caps.rtcp_mux and offered.rtcp_mux
    if mux:
        answer.add_attribute("rtcp-mux")
    for name, value in caps.media_attributes:
        answer.add_attribute(name, value)
    answer.direction = direction
    stream = NegotiatedStream(
        index, "audio", True, connection.address if connection else None, offered.port,
        tuple(chosen), event_pt, direction, offered.ptime, mux)
    return answer, stream


def build_answer(offer: SessionDescription, caps: Capabilities,
                 session: SdpSession | None = None) -> OfferAnswer:
    """Answer ``offer`` (RFC 3264 §6). Pass the dialog's ``session`` to keep ``o=`` stable."""
    session = session or SdpSession(0, caps.username, caps.address)
    answer = SessionDescription(session_name=caps.session_name,
                                connection=Connection(caps.address, caps.addrtype))
    streams = []
    audio_taken = False  # one audio stream: we anchor a single RTP flow per leg
    for index, offered in enumerate(offer.media):
        media, stream = _answer_audio(index, offer, offered, caps, audio_taken)
        audio_taken = audio_taken or stream.accepted
        answer.media.append(media)
        streams.append(stream)
    return OfferAnswer(session.stamp(answer), tuple(streams))


def build_offer(caps: Capabilities, session: SdpSession | None = None,
                previous: SessionDescription | None = None,
                direction: str | None = None) -> SessionDescription:
    """An offer with one audio stream (RFC 3264 §5); a re-offer (§8) keeps ``previous``'s
    m-lines in place (other streams stay refused with port 0) and its payload numbers."""
    session = session or SdpSession(0, caps.username, caps.address)
    audio = MediaDescription("audio", caps.audio_port, caps.protocols[0], [])
    used: dict[str, int] = {}
    if previous is not None:
        for old in previous.media:
            if old.media == "audio":
                used = {f"{m.encoding.lower()}/{m.clock_rate}": pt
                        for pt, m in old.rtpmaps().items()}
                break
    next_dynamic = max([FIRST_DYNAMIC_PT - 1, *used.values()]) + 1
    entries: list[tuple[str, int, int, str | None]] = [
        (c.name, c.clock_rate, c.channels, c.fmtp) for c in caps.codecs]
    if caps.telephone_events is not None:
        entries.append((TELEPHONE_EVENT, 8000, 1, caps.telephone_events))
    for name, rate, channels, fmtp in entries:
        pt = used.get(f"{name.lower()}/{rate}")
        if pt is None:
            pt = _STATIC_BY_NAME.get((name.upper(), rate, channels))
        if pt is None:
            pt, next_dynamic = next_dynamic, next_dynamic + 1
        audio.formats.append(str(pt))
        audio.add_attribute("rtpmap", f"{pt} {name}/{rate}"
                            + (f"/{channels}" if channels != 1 else ""))
        if fmtp:
            audio.add_attribute("fmtp", f"{pt} {fmtp}")
    if caps.ptime:
        audio.add_attribute("ptime", str(caps.ptime))
    if caps.rtcp_mux:
        audio.add_attribute("rtcp-mux")
    for name, value in caps.media_attributes:
        audio.add_attribute(name, value)
    audio.direction = direction or caps.direction
    media: list[MediaDescription] = [audio]
    if previous is not None:  # §8: same m-lines in the same order; only the audio one is live
        media = []
        placed = False
        for old in previous.media:
            if old.media == "audio" and not placed:
                media.append(audio)
                placed = True
            else:
                media.append(MediaDescription(old.media, 0, old.proto, old.formats[:1]))
        if not placed:
            media.append(audio)
    offer = SessionDescription(session_name=caps.session_name,
                               connection=Connection(caps.address, caps.addrtype), media=media)
    return session.stamp(offer)


def codecs_of(streams: Sequence[NegotiatedStream]) -> list[str]:
    """Names of the agreed codecs of the first accepted stream (logs and CDRs)."""
    for stream in streams:
        if stream.accepted:
            return [codec.name for _, codec in stream.payload_types]
    return []
