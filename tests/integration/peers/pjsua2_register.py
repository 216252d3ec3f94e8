"""Register one account with pjsua2 (``pjsua2-pybind11``) and print the outcome as JSON.

Run as a subprocess (``python -m tests.integration.peers.pjsua2_register ...``): pjsua2 allows
one Endpoint per process and aborts if called from a thread it does not know (design §6), so
each scenario gets its own process. Callbacks arrive on pjsua2's own worker thread: they only
record what they saw and set an Event; every call into pjsua2 stays on the main thread.

Output, one JSON line: ``{"code": 200, "reason": "OK", "expiration": 600, "active": true,
"states": [[code, reason], ...]}``; ``code`` is the final registration status pjsua2 reports
(a 401/403 when the registrar refused the credentials).
"""

from __future__ import annotations

import argparse
import json
import select
import sys
import threading

import pjsua2 as pj


class RecordingAccount(pj.Account):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.states: list[tuple[int, str, int]] = []
        self.changed = threading.Event()

    def onRegState(self, prm: pj.OnRegStateParam) -> None:  # pjsua2 callback name
        self.states.append((int(prm.code), str(prm.reason), int(prm.expiration)))
        self.changed.set()

    def wait_state(self, count: int, timeout: float) -> bool:
        """Wait until at least ``count`` registration states were reported."""
        while len(self.states) < count:
            self.changed.clear()
            if len(self.states) >= count:
                break
            if not self.changed.wait(timeout):
                return False
        return True


def register(args: argparse.Namespace) -> dict[str, object]:
    endpoint = pj.Endpoint()
    endpoint.libCreate()
    config = pj.EpConfig()
    config.logConfig.level = args.log_level
    config.logConfig.consoleLevel = args.log_level
    config.medConfig.noVad = True
    endpoint.libInit(config)
    endpoint.audDevManager.setNullDev()
    kind = pj.TransportType.TCP if args.transport == "tcp" else pj.TransportType.UDP
    transport_config = pj.TransportConfig()
    transport_config.port = 0
    transport_config.boundAddress = "127.0.0.1"
    transport_config.publicAddress = "127.0.0.1"
    endpoint.transportCreate(kind, transport_config)
    endpoint.libStart()

    account_config = pj.AccountConfig()
    account_config.idUri = f"sip:{args.user}@{args.domain}"
    account_config.regConfig.registrarUri = f"sip:{args.registrar};transport={args.transport}"
    account_config.regConfig.timeoutSec = args.expires
    account_config.regConfig.retryIntervalSec = 0  # one attempt: the test wants the verdict
    account_config.sipConfig.authCreds.append(
        pj.AuthCredInfo("digest", "*", args.user, 0, args.password))
    account = RecordingAccount()
    account.create(account_config)

    account.wait_state(1, args.timeout)
    info = account.info
    result: dict[str, object] = {
        "code": account.states[-1][0] if account.states else None,
        "reason": account.states[-1][1] if account.states else "no answer",
        "expiration": account.states[-1][2] if account.states else None,
        "active": bool(info.regIsActive),
        "states": [list(state) for state in account.states],
    }
    if args.unregister and account.states and account.states[-1][0] == 200:
        before = len(account.states)
        account.setRegistration(False)
        account.wait_state(before + 1, args.timeout)
        result["unregister"] = list(account.states[-1]) if len(account.states) > before else None
    if args.hold:
        # Keep the registration (destroying the endpoint unregisters) until the test closes
        # our stdin; bounded so a forgotten process cannot linger.
        sys.stdout.write("RESULT " + json.dumps(result) + "\n")
        sys.stdout.flush()
        ready, _, _ = select.select([sys.stdin], [], [], args.hold)
        if ready:
            sys.stdin.read()
    account.shutdown()
    endpoint.libDestroy()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--registrar", required=True, help="HOST:PORT of the registrar")
    parser.add_argument("--transport", choices=["udp", "tcp"], default="udp")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--domain", default="127.0.0.1")
    parser.add_argument("--expires", type=int, default=300)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--unregister", action="store_true")
    parser.add_argument("--log-level", type=int, default=0)
    parser.add_argument("--hold", type=float, default=0.0, metavar="SECONDS",
                        help="print the result, then stay registered until stdin closes")
    args = parser.parse_args()
    result = register(args)
    if args.hold:
        return 0  # already printed while holding
    # pjlib writes its banner to stdout too: the result is the last line, marked.
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
