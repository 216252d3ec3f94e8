"""Run the parser tests over both implementations (design §8, the yarl/msgpack model).

When ``cext._sipparse`` is loaded, every test in the parser modules below runs twice: once with
the compiled fast paths and once with them switched off, so that the pure reference answers
every call. Without the extension (or with ``SIP_PURE=1``) the tests run once, on the
reference.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from switch.sip import _accel

PARSER_MODULES = frozenset({
    "test_torture", "test_fuzz", "test_uri", "test_headers", "test_message", "test_multipart",
    "test_framing",
})


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    if ("sip_parser" in metafunc.fixturenames and module in PARSER_MODULES
            and _accel.compiled is not None):
        metafunc.parametrize("sip_parser", ["compiled", "pure"], indirect=True)


@pytest.fixture(autouse=True)
def sip_parser(request: pytest.FixtureRequest) -> Iterator[str]:
    """The parser implementation this test runs on (``compiled`` or ``pure``)."""
    wanted = getattr(request, "param", _accel.active())
    _accel.set_compiled(wanted == "compiled")
    try:
        yield str(wanted)
    finally:
        _accel.set_compiled(True)
