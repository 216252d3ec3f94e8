"""Small helpers to build SIP requests in node tests (text in, parsed Request out)."""

from __future__ import annotations

from switch.sip.message import Request, Response, parse_message


def request_text(method: str, uri: str, *, from_user: str = "1001",
                 to_uri: str | None = None, host: str = "switchboard.local",
                 call_id: str = "call-1", cseq: int = 1, from_tag: str = "ft1",
                 branch: str = "z9hG4bK-b1", contacts: list[str] | None = None,
                 expires: int | None = None, extra: list[str] | None = None,
                 via_host: str = "127.0.0.1:5070", transport: str = "UDP",
                 body: bytes = b"") -> bytes:
    lines = [
        f"{method} {uri} SIP/2.0",
        f"Via: SIP/2.0/{transport} {via_host};branch={branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:{from_user}@{host}>;tag={from_tag}",
        f"To: <{to_uri or f'sip:{from_user}@{host}'}>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {method}",
    ]
    lines += [f"Contact: {c}" for c in contacts or []]
    if expires is not None:
        lines.append(f"Expires: {expires}")
    lines += extra or []
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def request(method: str, uri: str, **kwargs: object) -> Request:
    message = parse_message(request_text(method, uri, **kwargs))  # type: ignore[arg-type]
    assert isinstance(message, Request)
    return message


def header_values(response: Response, name: str) -> list[str]:
    return response.headers.getall(name)
