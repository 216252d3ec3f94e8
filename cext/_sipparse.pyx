# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled fast paths of the SIP parser (the pure reference lives in switch/sip).

Theory of operation: every public function here is the twin of one pure function
(``split_head_py``, ``parse_uri``, ``parse_via``, ``parse_name_addr``, ``parse_cseq``,
``split_list``, ``parse_message``). Each recognises the everyday shape of its input in one C pass over the
octets (ASCII only, no folding, no escapes, no quoted-pairs, no IPv6, no whitespace where the
grammar merely tolerates it) and builds exactly the objects the reference would build. Anything
else -- unusual but legal input, and every error -- is handed to the pure reference, bound by
the ``bind_*`` calls when switch.sip imports. So results, exceptions, messages and statuses are
the reference's by construction; the differential tests check the fast shapes.

This module imports nothing from switch (design §3): the classes to build and the fallbacks
arrive as arguments. ``set_enabled(False)`` routes every call to the reference (tests, bench).
"""

from cpython.object cimport PyObject_GenericSetAttr
from cpython.unicode cimport PyUnicode_DecodeLatin1, PyUnicode_Substring

cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object o)
    void* PyUnicode_DATA(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)

# -- bindings (set once by switch.sip at import) ----------------------------------------------

cdef object _SipUri = None
cdef object _Via = None
cdef object _NameAddr = None
cdef object _CSeq = None
cdef object _uri_fallback = None
cdef object _via_fallback = None
cdef object _name_addr_fallback = None
cdef object _cseq_fallback = None
cdef object _split_list_fallback = None
cdef object _head_fallback = None
cdef object _name_resolver = None
cdef object _Headers = None
cdef object _Request = None
cdef object _Response = None
cdef object _message_fallback = None
cdef dict _names = {}          # raw field name -> (canonical name, lookup key)
cdef Py_ssize_t _NAMES_MAX = 2048
cdef bint _enabled = True
cdef unsigned long long _fallbacks = 0

# interned attribute names, for building the frozen slots dataclasses without __init__
cdef str A_SCHEME = "scheme", A_USER = "user", A_PASSWORD = "password", A_HOST = "host"
cdef str A_PORT = "port", A_PARAMS = "params", A_HEADERS = "headers"
cdef str A_TRANSPORT = "transport", A_URI = "uri", A_DISPLAY = "display"
cdef str A_SEQ = "seq", A_METHOD = "method"
cdef str A_ITEMS = "_items", A_KEYS = "_keys", A_BODY = "body", A_VERSION = "version"
cdef str A_STATUS = "status", A_REASON = "reason"
cdef str SIP_VERSION = "SIP/2.0"
cdef tuple EMPTY = ()


def bind_uri(sip_uri_cls, fallback):
    """The SipUri class and the pure ``parse_uri``."""
    global _SipUri, _uri_fallback
    _SipUri = sip_uri_cls
    _uri_fallback = fallback


def bind_headers(via_cls, name_addr_cls, cseq_cls, via_fallback, name_addr_fallback,
                 cseq_fallback, split_list_fallback):
    """Via, NameAddr, CSeq and the pure parsers of those headers and of lists."""
    global _Via, _NameAddr, _CSeq, _via_fallback, _name_addr_fallback, _cseq_fallback
    global _split_list_fallback
    _split_list_fallback = split_list_fallback
    _Via, _NameAddr, _CSeq = via_cls, name_addr_cls, cseq_cls
    _via_fallback, _name_addr_fallback = via_fallback, name_addr_fallback
    _cseq_fallback = cseq_fallback


def bind_head(name_resolver, fallback):
    """``name_resolver(raw) -> (canonical, key)`` for token names, and the pure split_head."""
    global _name_resolver, _head_fallback
    _name_resolver = name_resolver
    _head_fallback = fallback


def set_enabled(bint enabled):
    """False sends every call to the pure reference (for tests and the benchmark)."""
    global _enabled
    _enabled = enabled


def enabled():
    return _enabled


def fallbacks():
    """How many calls the fast paths handed to the reference so far."""
    return _fallbacks


# -- character classes ------------------------------------------------------------------------

# token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
cdef unsigned char TOKEN_CH[256]
# user = unreserved / user-unreserved, without escapes, ";", "?", "/" (the URI fast shape)
cdef unsigned char USER_CH[256]
# paramchar = param-unreserved / unreserved, without escapes (the URI fast shape)
cdef unsigned char PARAM_CH[256]
# hostname characters after the first: alphanum / "-" / "."
cdef unsigned char HOST_CH[256]


cdef void _fill(unsigned char* table, bytes chars):
    cdef int i
    for i in range(256):
        table[i] = 0
    for i in range(ord('0'), ord('9') + 1):
        table[i] = 1
    for i in range(ord('a'), ord('z') + 1):
        table[i] = 1
    for i in range(ord('A'), ord('Z') + 1):
        table[i] = 1
    for c in chars:
        table[<int>c] = 1


_fill(TOKEN_CH, b"-.!%*_+`'~")
_fill(USER_CH, b"-_.!~*'()&=+$,")
_fill(PARAM_CH, b"-_.!~*'()[]/:&+$")
_fill(HOST_CH, b"-.")


cdef inline bint _alnum(unsigned char c):
    return (c >= 48 and c <= 57) or (c >= 65 and c <= 90) or (c >= 97 and c <= 122)


cdef inline str _sub(str s, Py_ssize_t a, Py_ssize_t b):
    return PyUnicode_Substring(s, a, b)


cdef inline int _set(object obj, str name, object value) except -1:
    # the classes are frozen dataclasses: generic setattr fills their slots directly,
    # as object.__setattr__ in their generated __init__ does
    return PyObject_GenericSetAttr(obj, name, value)


# -- header parameters ------------------------------------------------------------------------

cdef object _params(str s, const unsigned char* p, Py_ssize_t i, Py_ssize_t n):
    """``*( ";" token [ "=" ( token / quoted-string ) ] )`` from i to n, as the reference's
    pairs tuple; None when the text is outside the fast shape (whitespace, escapes, IPv6)."""
    cdef list out = []
    cdef Py_ssize_t a, b, v
    cdef unsigned char c
    while i < n:
        if p[i] != 59:  # ";"
            return None
        i += 1
        a = i
        while i < n and TOKEN_CH[p[i]]:
            i += 1
        if i == a:
            return None
        b = i
        if i < n and p[i] == 61:  # "="
            i += 1
            v = i
            if i < n and p[i] == 34:  # '"': quoted-string without quoted-pairs
                i += 1
                while i < n and p[i] != 34:
                    c = p[i]
                    if c == 92 or c < 32:
                        return None
                    i += 1
                if i >= n:
                    return None
                i += 1
            else:
                while i < n and TOKEN_CH[p[i]]:
                    i += 1
                if i == v:
                    return None
            out.append((_sub(s, a, b), _sub(s, v, i)))
        else:
            out.append((_sub(s, a, b), None))
    return tuple(out)


# -- URI --------------------------------------------------------------------------------------

cdef object _fast_sip_uri(str s):
    """The reference's one-match shape: sip[s]:[user@]host[:port][;name[=value]]*"""
    if not PyUnicode_IS_ASCII(s):
        return None
    cdef const unsigned char* p = <const unsigned char*>PyUnicode_DATA(s)
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(s)
    cdef Py_ssize_t i, start, at, hs, he
    cdef str scheme
    cdef long port_value = -1
    cdef object user = None
    cdef list params
    cdef Py_ssize_t a, b, v
    if n > 4 and (p[0] | 32) == 115 and (p[1] | 32) == 105 and (p[2] | 32) == 112:
        if p[3] == 58:
            scheme = "sip"
            start = 4
        elif (p[3] | 32) == 115 and p[4] == 58:
            scheme = "sips"
            start = 5
        else:
            return None
    else:
        return None
    at = -1
    i = start
    while i < n:
        if p[i] == 64:  # "@"
            at = i
            break
        i += 1
    if at >= 0:
        if at == start:
            return None
        for i in range(start, at):
            if not USER_CH[p[i]]:
                return None
        user = _sub(s, start, at)
        i = at + 1
    else:
        i = start
    hs = i
    if i >= n or not _alnum(p[i]):
        return None
    i += 1
    while i < n and HOST_CH[p[i]]:
        i += 1
    he = i
    if i < n and p[i] == 58:  # ":" port = 1*5DIGIT
        i += 1
        a = i
        port_value = 0
        while i < n and p[i] >= 48 and p[i] <= 57 and i - a < 5:
            port_value = port_value * 10 + (p[i] - 48)
            i += 1
        if i == a or port_value > 65535:
            return None
    params = []
    while i < n:
        if p[i] != 59:
            return None
        i += 1
        a = i
        while i < n and PARAM_CH[p[i]]:
            i += 1
        if i == a:
            return None
        b = i
        if i < n and p[i] == 61:
            i += 1
            v = i
            while i < n and PARAM_CH[p[i]]:
                i += 1
            if i == v:
                return None
            params.append((_sub(s, a, b), _sub(s, v, i)))
        else:
            params.append((_sub(s, a, b), None))
    uri = _SipUri.__new__(_SipUri)
    _set(uri, A_SCHEME, scheme)
    _set(uri, A_USER, user)
    _set(uri, A_PASSWORD, None)
    _set(uri, A_HOST, _sub(s, hs, he))
    _set(uri, A_PORT, None if port_value < 0 else port_value)
    _set(uri, A_PARAMS, tuple(params) if params else EMPTY)
    _set(uri, A_HEADERS, EMPTY)
    return uri


def parse_uri(text):
    """Twin of ``switch.sip.uri.parse_uri``."""
    global _fallbacks
    if _enabled and type(text) is str:
        uri = _fast_sip_uri(text)
        if uri is not None:
            return uri
    _fallbacks += 1
    return _uri_fallback(text)


# -- Via --------------------------------------------------------------------------------------

cdef object _fast_via(str s):
    if not PyUnicode_IS_ASCII(s):
        return None
    cdef const unsigned char* p = <const unsigned char*>PyUnicode_DATA(s)
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(s)
    cdef Py_ssize_t i = 0, ts, te, hs, he, a
    cdef long port_value = -1
    cdef unsigned char c
    cdef object params
    cdef str key
    while i < n and (p[i] == 32 or p[i] == 9):
        i += 1
    while n > i and (p[n - 1] == 32 or p[n - 1] == 9):
        n -= 1
    # sent-protocol, the everyday spelling only: "SIP/2.0/" transport 1*(SP / HTAB)
    if n - i < 10 or p[i] != 83 or p[i + 1] != 73 or p[i + 2] != 80 or p[i + 3] != 47 \
            or p[i + 4] != 50 or p[i + 5] != 46 or p[i + 6] != 48 or p[i + 7] != 47:
        return None
    i += 8
    ts = i
    while i < n and TOKEN_CH[p[i]]:
        i += 1
    te = i
    if te == ts or i >= n or (p[i] != 32 and p[i] != 9):
        return None
    while i < n and (p[i] == 32 or p[i] == 9):
        i += 1
    # sent-by = hostname [ ":" port ] (hostname as the reference's _HOSTNAME)
    hs = i
    if i >= n or not _alnum(p[i]):
        return None
    i += 1
    while i < n and HOST_CH[p[i]]:
        i += 1
    he = i
    if p[he - 1] == 45:  # a hostname does not end with "-"
        return None
    if i < n and p[i] == 58:
        i += 1
        a = i
        port_value = 0
        while i < n and p[i] >= 48 and p[i] <= 57 and i - a < 5:
            port_value = port_value * 10 + (p[i] - 48)
            i += 1
        if i == a or port_value > 65535 or port_value == 0:
            return None
    if i < n and p[i] != 59:
        return None
    params = _params(s, p, i, n)
    if params is None:
        return None
    for key, value in params:
        key = key.lower()
        if key == "branch":
            if value is None or (<str>value)[0] == '"':
                return None
        elif key == "received":
            if value is not None and (value == "" or ":" in value or (<str>value)[0] == "["):
                return None
    via = _Via.__new__(_Via)
    _set(via, A_TRANSPORT, _sub(s, ts, te).upper())
    _set(via, A_HOST, _sub(s, hs, he))
    _set(via, A_PORT, None if port_value < 0 else port_value)
    _set(via, A_PARAMS, params)
    return via


def parse_via(value):
    """Twin of ``switch.sip.headers.parse_via``."""
    global _fallbacks
    if _enabled and type(value) is str:
        via = _fast_via(value)
        if via is not None:
            return via
    _fallbacks += 1
    return _via_fallback(value)


# -- name-addr --------------------------------------------------------------------------------

cdef object _fast_name_addr(str s):
    if not PyUnicode_IS_ASCII(s):
        return None
    cdef const unsigned char* p = <const unsigned char*>PyUnicode_DATA(s)
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(s)
    cdef Py_ssize_t i = 0, ds = -1, de = -1, us, ue, j
    cdef unsigned char c
    while i < n and (p[i] == 32 or p[i] == 9):
        i += 1
    if i >= n:
        return None
    if p[i] == 34:  # quoted display name, no quoted-pairs
        ds = i
        i += 1
        while i < n and p[i] != 34:
            if p[i] == 92:
                return None
            i += 1
        if i >= n:
            return None
        i += 1
        de = i
        while i < n and (p[i] == 32 or p[i] == 9):
            i += 1
    elif p[i] != 60:  # *(token LWS) token, then "<"
        ds = i
        while True:
            j = i
            while i < n and TOKEN_CH[p[i]]:
                i += 1
            if i == j:
                return None
            de = i
            while i < n and (p[i] == 32 or p[i] == 9):
                i += 1
            if i >= n:
                return None
            if p[i] == 60:
                break
    if i >= n or p[i] != 60:
        return None
    i += 1
    us = i
    while i < n and p[i] != 62:
        c = p[i]
        if c == 60 or c == 32 or c == 9 or c == 34:
            return None
        i += 1
    if i >= n or i == us:
        return None
    ue = i
    uri = _fast_sip_uri(_sub(s, us, ue))
    if uri is None:
        return None
    params = _params(s, p, i + 1, n)
    if params is None:
        return None
    addr = _NameAddr.__new__(_NameAddr)
    _set(addr, A_URI, uri)
    _set(addr, A_DISPLAY, None if ds < 0 else _sub(s, ds, de))
    _set(addr, A_PARAMS, params)
    return addr


def parse_name_addr(value):
    """Twin of ``switch.sip.headers.parse_name_addr``."""
    global _fallbacks
    if _enabled and type(value) is str:
        addr = _fast_name_addr(value)
        if addr is not None:
            return addr
    _fallbacks += 1
    return _name_addr_fallback(value)


# -- CSeq -------------------------------------------------------------------------------------

cdef object _fast_cseq(str s):
    if not PyUnicode_IS_ASCII(s):
        return None
    cdef const unsigned char* p = <const unsigned char*>PyUnicode_DATA(s)
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(s)
    cdef Py_ssize_t i = 0, a, ms
    cdef long long seq = 0
    while i < n and (p[i] == 32 or p[i] == 9):
        i += 1
    a = i
    while i < n and p[i] >= 48 and p[i] <= 57:
        seq = seq * 10 + (p[i] - 48)
        i += 1
        if i - a > 10:
            return None
    if i == a or seq >= 2147483648 or i >= n or (p[i] != 32 and p[i] != 9):
        return None
    while i < n and (p[i] == 32 or p[i] == 9):
        i += 1
    ms = i
    while i < n and TOKEN_CH[p[i]]:
        i += 1
    if i == ms:
        return None
    method = _sub(s, ms, i)
    while i < n and (p[i] == 32 or p[i] == 9):
        i += 1
    if i != n:
        return None
    cseq = _CSeq.__new__(_CSeq)
    _set(cseq, A_SEQ, int(seq))
    _set(cseq, A_METHOD, method)
    return cseq


def parse_cseq(value):
    """Twin of ``switch.sip.headers.parse_cseq``."""
    global _fallbacks
    if _enabled and type(value) is str:
        cseq = _fast_cseq(value)
        if cseq is not None:
            return cseq
    _fallbacks += 1
    return _cseq_fallback(value)


# -- comma lists -----------------------------------------------------------------------------

cdef object _fast_split_list(str s):
    """Split at commas outside quoted strings and <...>; items stripped, empty ones dropped.
    None for escapes, control characters, non-ASCII or an unclosed quote or bracket."""
    if not PyUnicode_IS_ASCII(s):
        return None
    cdef const unsigned char* p = <const unsigned char*>PyUnicode_DATA(s)
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(s)
    cdef Py_ssize_t i = 0, a = 0, b, e
    cdef unsigned char c
    cdef list out = []
    while True:
        if i >= n or p[i] == 44:  # "," or the end closes an item
            b = a
            e = i
            while b < e and (p[b] == 32 or p[b] == 9):
                b += 1
            while e > b and (p[e - 1] == 32 or p[e - 1] == 9):
                e -= 1
            if e > b:
                out.append(_sub(s, b, e))
            if i >= n:
                return out
            i += 1
            a = i
            continue
        c = p[i]
        if c < 32 and c != 9:
            return None
        if c == 34:  # quoted-string, no quoted-pairs
            i += 1
            while i < n and p[i] != 34:
                if p[i] == 92 or (p[i] < 32 and p[i] != 9):
                    return None
                i += 1
            if i >= n:
                return None
        elif c == 60:  # <...> holds anything but ">"
            i += 1
            while i < n and p[i] != 62:
                if p[i] < 32 and p[i] != 9:
                    return None
                i += 1
            if i >= n:
                return None
        i += 1


def split_list(value):
    """Twin of ``switch.sip.headers.split_list``."""
    global _fallbacks
    if _enabled and type(value) is str:
        items = _fast_split_list(value)
        if items is not None:
            return items
    _fallbacks += 1
    return _split_list_fallback(value)


# -- message head -----------------------------------------------------------------------------

cdef object _fast_split_head(const unsigned char* p, Py_ssize_t n):
    cdef Py_ssize_t i, ls, le, colon, ne, vs, ve
    cdef unsigned char c
    cdef list items = [], keys = []
    cdef object entry
    cdef str raw, start
    # ASCII only, CRLF line ends only, no folding: everything else is the reference's
    for i in range(n):
        c = p[i]
        if c >= 128:
            return None
        if c == 13:
            if i + 1 >= n or p[i + 1] != 10:
                return None
        elif c == 10:
            if i == 0 or p[i - 1] != 13:
                return None
            if i + 1 < n and (p[i + 1] == 32 or p[i + 1] == 9):
                return None
    ls = 0
    le = 0
    while le < n and p[le] != 13:
        le += 1
    if le == 0:
        return None
    start = PyUnicode_DecodeLatin1(<const char*>p, le, NULL)
    while le < n:
        ls = le + 2
        le = ls
        colon = -1
        while le < n and p[le] != 13:
            if colon < 0 and p[le] == 58:
                colon = le
            le += 1
        if colon < 0:
            return None
        # field-name HCOLON: whitespace may precede the colon
        ne = colon
        while ne > ls and (p[ne - 1] == 32 or p[ne - 1] == 9):
            ne -= 1
        if ne == ls:
            return None
        for i in range(ls, ne):
            if not TOKEN_CH[p[i]]:
                return None
        raw = PyUnicode_DecodeLatin1(<const char*>p + ls, colon - ls, NULL)
        entry = _names.get(raw)
        if entry is None:
            entry = _name_resolver(raw)
            if len(_names) < _NAMES_MAX:
                _names[raw] = entry
        vs = colon + 1
        ve = le
        while vs < ve and (p[vs] == 32 or p[vs] == 9):
            vs += 1
        while ve > vs and (p[ve - 1] == 32 or p[ve - 1] == 9):
            ve -= 1
        items.append(((<tuple>entry)[0], PyUnicode_DecodeLatin1(<const char*>p + vs, ve - vs,
                                                                 NULL)))
        keys.append((<tuple>entry)[1])
    return (start, items, keys)


def split_head(head):
    """Twin of ``switch.sip.rawhead.split_head_py``."""
    global _fallbacks
    if _enabled and type(head) is bytes:
        result = _fast_split_head(<const unsigned char*><bytes>head, len(<bytes>head))
        if result is not None:
            return result
    _fallbacks += 1
    return _head_fallback(head)


# -- whole message ----------------------------------------------------------------------------

def bind_message(headers_cls, request_cls, response_cls, fallback):
    """Headers, Request, Response and the pure ``parse_message``."""
    global _Headers, _Request, _Response, _message_fallback
    _Headers, _Request, _Response = headers_cls, request_cls, response_cls
    _message_fallback = fallback


cdef object _fast_message(bytes data, bint datagram, Py_ssize_t max_size):
    cdef const unsigned char* p = data
    cdef Py_ssize_t n = len(data)
    cdef Py_ssize_t idx = -1, i, sp1 = -1, sp2 = -1, blen, length
    cdef list keys, items
    cdef str start, method, uri_text, value, reason
    cdef object body, uri, message
    cdef int status
    cdef Py_UCS4 ch
    if n > max_size or n == 0 or p[0] == 13 or p[0] == 10:
        return None
    for i in range(n - 3):
        if p[i] == 13 and p[i + 1] == 10 and p[i + 2] == 13 and p[i + 3] == 10:
            idx = i
            break
    if idx < 0:
        return None
    parts = _fast_split_head(p, idx)
    if parts is None:
        return None
    start, items, keys = parts
    blen = n - idx - 4
    # Content-Length frames the body (RFC 3261 §18.3); anything unusual is the reference's
    count = keys.count("content-length")
    if count == 0:
        if not datagram:
            return None
        length = blen
    elif count == 1:
        value = (<tuple>items[keys.index("content-length")])[1]
        if not PyUnicode_IS_ASCII(value) or len(value) == 0 or len(value) > 10:
            return None
        length = 0
        for ch in value:
            if ch < 48 or ch > 57:
                return None
            length = length * 10 + (<Py_ssize_t>ch - 48)
        if length > blen:
            return None
    else:
        return None
    body = data[idx + 4:idx + 4 + length]
    headers = _Headers.__new__(_Headers)
    _set(headers, A_ITEMS, items)
    _set(headers, A_KEYS, keys)
    p = <const unsigned char*>PyUnicode_DATA(start)
    n = PyUnicode_GET_LENGTH(start)
    if n >= 4 and (p[0] | 32) == 115 and (p[1] | 32) == 105 and (p[2] | 32) == 112 and p[3] == 47:
        # Status-Line = SIP-Version SP 3DIGIT SP Reason-Phrase
        if n < 12 or start[:8] != SIP_VERSION + " " or p[11] != 32:
            return None
        status = 0
        for i in range(8, 11):
            if p[i] < 48 or p[i] > 57:
                return None
            status = status * 10 + (p[i] - 48)
        if status < 100 or status > 699:
            return None
        message = _Response.__new__(_Response)
        _set(message, A_HEADERS, headers)
        _set(message, A_BODY, body)
        _set(message, A_STATUS, status)
        _set(message, A_REASON, _sub(start, 12, n))
        _set(message, A_VERSION, SIP_VERSION)
        return message
    # Request-Line = Method SP Request-URI SP SIP-Version (exactly one SP each)
    for i in range(n):
        if p[i] == 32:
            if sp1 < 0:
                sp1 = i
            elif sp2 < 0:
                sp2 = i
            else:
                return None
    if sp1 <= 0 or sp2 < 0 or n - sp2 - 1 != 7 or start[sp2 + 1:] != SIP_VERSION:
        return None
    for i in range(sp1):
        if not TOKEN_CH[p[i]]:
            return None
    uri = _fast_sip_uri(_sub(start, sp1 + 1, sp2))
    if uri is None:
        return None
    message = _Request.__new__(_Request)
    _set(message, A_HEADERS, headers)
    _set(message, A_BODY, body)
    _set(message, A_METHOD, _sub(start, 0, sp1))
    _set(message, A_URI, uri)
    _set(message, A_VERSION, SIP_VERSION)
    return message


def parse_message(data, *, bint datagram=True, Py_ssize_t max_size=65535):
    """Twin of ``switch.sip.message.parse_message``."""
    global _fallbacks
    if _enabled and type(data) is bytes:
        message = _fast_message(data, datagram, max_size)
        if message is not None:
            return message
    _fallbacks += 1
    return _message_fallback(data, datagram=datagram, max_size=max_size)
