"""Responses built on the node's hot path, reusing what validation already parsed.

:func:`switch.sip.message.make_response` is the general builder: it works on any request and
parses the To header again to decide whether it needs a tag. A request that went through the
endpoint has been validated, so its ``to`` view is already cached; :func:`reply` reads the tag
from there, copies the §8.2.6.2 fields with ``Headers.subset`` (C-level scans, no loop over
every field), and leaves the response with a cached ``to`` view of its own, so neither the
endpoint (§8.2.6.2 To-tag check) nor the transaction (which remembers the tag for CANCEL/487)
parses that To again. Anything unusual (a 100, a request never validated, a To that does not
parse) goes to ``make_response``: same bytes either way.
"""

from __future__ import annotations

from .headers import NameAddr
from .message import COPIED_HEADERS, REASONS, Message, Request, Response, make_response

_TO_VIEW = Message.to  # the descriptor: peek() reads a cached view, preset() leaves one


def reply(request: Request, status: int, reason: str | None = None, *,
          to_tag: str | None = None,
          extra: list[tuple[str, str]] | None = None) -> Response:
    """A response to ``request`` (same contract as ``make_response``, faster when the request
    was validated)."""
    to: NameAddr | None = _TO_VIEW.peek(request)
    if status == 100 or to is None:
        return make_response(request, status, reason, to_tag=to_tag, extra=extra)
    headers = request.headers.subset(COPIED_HEADERS)
    raw = headers.fields("To")
    if len(raw) != 1:  # a To added since the view was read: let the general path decide
        return make_response(request, status, reason, to_tag=to_tag, extra=extra)
    response_to = to
    if to_tag is not None and to.tag is None:
        headers.set("To", f"{raw[0]};tag={to_tag}")
        response_to = to.with_params(tag=to_tag)
    if extra:
        headers.extend(extra)
    response = Response(headers, b"", status,
                        reason if reason is not None else REASONS.get(status, "Unknown"))
    _TO_VIEW.preset(response, response_to)  # the cached view of the To we just wrote
    return response
