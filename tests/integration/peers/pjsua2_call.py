"""Make one call with pjsua2 (``pjsua2-pybind11``), send DTMF, hang up; print the outcome.

Run as a subprocess (``python -m tests.integration.peers.pjsua2_call --uri sip:300@HOST:PORT
--digits 2``): pjsua2 allows one Endpoint per process, at most 4 calls, and aborts when called
from a thread it does not know (design §6). Its callbacks arrive on pjsua's own worker thread:
they only record what they saw and set an Event; every call into pjsua2 (makeCall, sendDtmf,
hangup) is made from the main thread, which waits on those Events with a bound.

The account has no registrar (``idUri`` only): the node trusts 127.0.0.1 as a trunk. Audio
goes to pjsua's null device. Digits go as SIP INFO (``application/dtmf-relay``) by default,
or RFC 4733 with ``--dtmf-method rfc2833``.

Output, the last line: ``RESULT {"confirmed": true, "states": ["CALLING", ...],
"last_status": 200, "digits_sent": "2", "dtmf_method": "SIP_INFO", "info_responses": [200],
"disconnected": true, "call_id": "..."}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any

import pjsua2 as pj

from tests.integration.peers.pjsua2_common import start_endpoint


class RecordingCall(pj.Call):  # type: ignore[misc]
    """Records state changes and the final answers to requests it sent in the dialog
    (INFO; the BYE's transaction usually ends after the call is gone)."""

    def __init__(self, account: pj.Account) -> None:
        super().__init__(account)
        self.lock = threading.Lock()
        self.states: list[str] = []
        self.last_status: int | None = None
        self.last_reason = ""
        self.call_id = ""
        self.confirmed = threading.Event()
        self.disconnected = threading.Event()
        self.info_answered = threading.Event()
        self.responses: dict[str, list[int]] = {}

    def onCallState(self, prm: pj.OnCallStateParam) -> None:  # pjsua2 callback name
        info = self.info
        state = info.state.name if hasattr(info.state, "name") else str(info.state)
        with self.lock:
            self.states.append(state)
            self.last_status = int(info.lastStatusCode)
            self.last_reason = str(info.lastReason)
            self.call_id = str(info.callIdString)
        if state == "CONFIRMED":
            self.confirmed.set()
        elif state == "DISCONNECTED":
            self.disconnected.set()

    def onCallTsxState(self, prm: pj.OnCallTsxStateParam) -> None:  # pjsua2 callback name
        tsx = prm.e.body.tsxState.tsx
        method, status = str(tsx.method), int(tsx.statusCode)
        role = tsx.role.name if hasattr(tsx.role, "name") else str(tsx.role)
        if "UAC" not in role or status < 200 or method in ("INVITE", "ACK"):
            return
        with self.lock:
            answers = self.responses.setdefault(method, [])
            if not answers or answers[-1] != status:  # one entry per transaction end
                answers.append(status)
        if method == "INFO":
            self.info_answered.set()


def run(args: argparse.Namespace) -> dict[str, Any]:
    endpoint = start_endpoint(args.log_level)

    account_config = pj.AccountConfig()
    account_config.idUri = f"sip:{args.user}@127.0.0.1"  # no registrarUri: no REGISTER
    account = pj.Account()
    account.create(account_config)

    result: dict[str, Any] = {"confirmed": False, "digits_sent": "", "dtmf_method": None,
                              "make_call_errors": []}
    # makeCall binds the call's RTP/RTCP pair; this binding exposes no AccountMediaConfig to
    # choose ports, and on a busy machine the pair pjsua picks can be taken ("Address already
    # in use"). Such a failure allocates no call: try again (3 tries stay within 4 calls).
    for _ in range(3):
        call = RecordingCall(account)
        try:
            call.makeCall(args.uri, pj.CallOpParam(True))
            break
        except RuntimeError as exc:
            if "already in use" not in str(exc):
                raise
            result["make_call_errors"].append(str(exc).split(" error: ", 1)[-1])
            del call
            time.sleep(0.2)
    else:
        raise RuntimeError(f"makeCall failed 3 times: {result['make_call_errors']}")
    try:
        result["confirmed"] = call.confirmed.wait(args.timeout)
        if result["confirmed"]:
            time.sleep(args.before_dtmf)
            method = (pj.DtmfMethod.SIP_INFO if args.dtmf_method == "info"
                      else pj.DtmfMethod.RFC2833)
            for digit in args.digits:
                param = pj.CallSendDtmfParam()
                param.method = method
                param.digits = digit
                param.duration = 160
                call.info_answered.clear()
                call.sendDtmf(param)
                result["digits_sent"] += digit
                if method == pj.DtmfMethod.SIP_INFO:
                    call.info_answered.wait(args.timeout)
                else:
                    time.sleep(0.3)
            result["dtmf_method"] = method.name
            time.sleep(args.hold)
        if not call.disconnected.is_set():
            call.hangup(pj.CallOpParam(True))
        result["disconnected"] = call.disconnected.wait(args.timeout)
    finally:
        with call.lock:
            result.update({
                "states": list(call.states),
                "last_status": call.last_status,
                "last_reason": call.last_reason,
                "call_id": call.call_id,
                "info_responses": list(call.responses.get("INFO", [])),
            })
        endpoint.hangupAllCalls()
        time.sleep(0.2)
        del call
        account.shutdown()
        endpoint.libDestroy()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--uri", required=True, help="whom to call, e.g. sip:300@HOST:PORT")
    parser.add_argument("--user", default="+15550199", help="the caller's user part")
    parser.add_argument("--digits", default="2")
    parser.add_argument("--dtmf-method", choices=["info", "rfc2833"], default="info")
    parser.add_argument("--before-dtmf", type=float, default=2.5,
                        help="seconds between the answer and the first digit")
    parser.add_argument("--hold", type=float, default=1.5,
                        help="seconds between the last digit and the hang-up")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="bound on each wait (answer, INFO answer, disconnect)")
    parser.add_argument("--log-level", type=int, default=0)
    args = parser.parse_args()
    result = run(args)
    # pjlib writes its banner to stdout too: the result is the last line, marked.
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
