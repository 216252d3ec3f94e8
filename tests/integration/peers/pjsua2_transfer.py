"""An agent's softphone doing an attended (consult) transfer, with pjsua2.

Run as a subprocess (see ``pjsua2_call.py`` for pjsua2's rules: one Endpoint per process,
callbacks on its own thread, which only record and set Events): registers ``--user`` with
digest auth, answers the first call it gets (a queue call), then calls ``--consult`` (a
colleague, through the node), and once that call is up hands the first caller over with
REFER + Replaces (RFC 3891, pjsua2's ``xferReplaces``). It then waits for the node to end
both of its calls.

The last line: ``RESULT {"registered": true, "answered": true, "consulted": true,
"both_ended": true}``.
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


class Call(pj.Call):  # type: ignore[misc]
    def __init__(self, account: pj.Account, endpoint: pj.Endpoint,
                 call_id: int = -1) -> None:
        super().__init__(account, call_id)
        self.endpoint = endpoint
        self.confirmed = threading.Event()
        self.disconnected = threading.Event()

    def onCallState(self, prm: pj.OnCallStateParam) -> None:  # pjsua2 callback name
        state = self.info.state
        if state == pj.InvState.CONFIRMED:
            self.confirmed.set()
        elif state == pj.InvState.DISCONNECTED:
            self.disconnected.set()

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        # Feed the call from the (null) capture device, so pjsua sends RTP all along, as a
        # phone with a headset does.
        for index, media in enumerate(self.info.media):
            if media.type == pj.MediaType.AUDIO and media.status == pj.CallMediaStatus.ACTIVE:
                self.endpoint.audDevManager.captureDevMedia.startTransmit(
                    self.getAudioMedia(index))


class Agent(pj.Account):  # type: ignore[misc]
    def __init__(self, endpoint: pj.Endpoint) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.incoming: Call | None = None
        self.rang = threading.Event()
        self.registered = threading.Event()

    def onRegState(self, prm: pj.OnRegStateParam) -> None:
        if int(prm.code) == 200:
            self.registered.set()

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        call = Call(self, self.endpoint, prm.callId)
        self.incoming = call
        answer = pj.CallOpParam(True)
        answer.statusCode = pj.StatusCode.OK
        call.answer(answer)
        self.rang.set()


def run(args: argparse.Namespace) -> dict[str, Any]:
    endpoint = start_endpoint(args.log_level)

    account_config = pj.AccountConfig()
    account_config.idUri = f"sip:{args.user}@{args.node}"
    account_config.regConfig.registrarUri = f"sip:{args.node}"
    account_config.sipConfig.authCreds.append(
        pj.AuthCredInfo("digest", "*", args.user, 0, args.password))
    agent = Agent(endpoint)
    agent.create(account_config)
    result: dict[str, Any] = {"registered": agent.registered.wait(args.timeout)}
    consult: Call | None = None
    try:
        result["answered"] = agent.rang.wait(args.timeout) and agent.incoming is not None \
            and agent.incoming.confirmed.wait(args.timeout)
        if result["answered"]:
            time.sleep(args.talk)
            consult = Call(agent, endpoint)
            consult.makeCall(f"sip:{args.consult}@{args.node}", pj.CallOpParam(True))
            result["consulted"] = consult.confirmed.wait(args.timeout)
            if result["consulted"]:
                time.sleep(args.talk)
                assert agent.incoming is not None
                agent.incoming.xferReplaces(consult, pj.CallOpParam(True))
                ended = [c.disconnected.wait(args.timeout) for c in (agent.incoming, consult)]
                result["both_ended"] = all(ended)
    finally:
        # Said before pjsua is torn down: its teardown may abort this binding's process.
        sys.stdout.write("RESULT " + json.dumps(result) + "\n")
        sys.stdout.flush()
        endpoint.hangupAllCalls()
        time.sleep(0.3)
        agent.shutdown()
        endpoint.libDestroy()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--node", required=True, help="HOST:PORT of the node (UDP)")
    parser.add_argument("--user", default="1001")
    parser.add_argument("--password", default="demo1001")
    parser.add_argument("--consult", default="1002", help="the colleague's extension")
    parser.add_argument("--talk", type=float, default=1.5, help="seconds in each call")
    parser.add_argument("--timeout", type=float, default=15.0)
    parser.add_argument("--log-level", type=int, default=0)
    args = parser.parse_args()
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
