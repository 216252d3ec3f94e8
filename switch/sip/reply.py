"""Responses built on the node's hot path, reusing what validation already parsed.

:func:`switch.sip.message.make_response` is the general builder: it works on any request and
parses the To header again to decide whether it needs a tag. A request that went through the
endpoint has been validated, so its ``to`` view is already cached; :func:`reply` reads the tag
from there, builds the header list in one step, and leaves the response with a cached ``to``
view of its own, so neither the endpoint (§8.2.6.2 To-tag check) nor the transaction (which
remembers the tag for CANCEL/487) parses that To again. Anything unusual (a 100, a request
never validated, a To that does not parse) goes to ``make_response``: same bytes either way.
"""

from __future__ import annotations

from .errors import ParseError
from .headers import Headers, NameAddr, canonical_name, header_key
from .message import REASONS, Request, Response, make_response

# RFC 3261 §8.2.6.2: the headers a response copies from its request, in this order.
_COPIED = ("Via", "From", "To", "Call-ID", "CSeq")
_COPIED_KEYS = tuple((name, header_key(name)) for name in _COPIED)
_TO_KEY = header_key("To")


def reply(request: Request, status: int, reason: str | None = None, *,
          to_tag: str | None = None,
          extra: list[tuple[str, str]] | None = None) -> Response:
    """A response to ``request`` (same contract as ``make_response``, faster when the request
    was validated)."""
    to: NameAddr | None = request.__dict__.get("to")
    if status == 100 or to is None:
        return make_response(request, status, reason, to_tag=to_tag, extra=extra)
    try:
        has_tag = to.tag is not None
    except ParseError:  # pragma: no cover - a cached view parsed already
        return make_response(request, status, reason, to_tag=to_tag, extra=extra)
    # One pass over the request's fields, bucketed so the copies come out in _COPIED order.
    buckets: dict[str, list[str]] = {key: [] for _, key in _COPIED_KEYS}
    for key, (_, value) in zip(request.headers._keys, request.headers, strict=True):
        bucket = buckets.get(key)
        if bucket is not None:
            bucket.append(value)
    tos = buckets[_TO_KEY]
    response_to: NameAddr | None = to if len(tos) == 1 else None
    if to_tag is not None and not has_tag:
        tos[:] = [f"{value};tag={to_tag}" for value in tos]
        if response_to is not None:
            response_to = to.with_params(tag=to_tag)
    items: list[tuple[str, str]] = []
    keys: list[str] = []
    for name, key in _COPIED_KEYS:
        for value in buckets[key]:
            items.append((name, value))
            keys.append(key)
    for name, value in extra or ():
        items.append((canonical_name(name), value))
        keys.append(header_key(name))
    headers = Headers._trusted(items, keys)
    response = Response(headers=headers, status=status,
                        reason=reason if reason is not None else REASONS.get(status, "Unknown"))
    if response_to is not None:
        response.__dict__["to"] = response_to  # the cached view of the To we just wrote
    return response
