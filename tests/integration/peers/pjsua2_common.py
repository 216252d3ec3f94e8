"""The pjsua2 set-up every pjsua2 peer of the tests shares: one Endpoint (per process, the
binding's rule), at most 4 calls, no VAD (RTP flows all along), the null sound device, one
UDP transport bound to and advertising 127.0.0.1 (design §6)."""

from __future__ import annotations

import pjsua2 as pj


def start_endpoint(log_level: int) -> pj.Endpoint:
    endpoint = pj.Endpoint()
    endpoint.libCreate()
    config = pj.EpConfig()
    config.logConfig.level = log_level
    config.logConfig.consoleLevel = log_level
    config.uaConfig.maxCalls = 4
    config.medConfig.noVad = True
    endpoint.libInit(config)
    endpoint.audDevManager.setNullDev()
    transport = pj.TransportConfig()
    transport.port = 0
    transport.boundAddress = "127.0.0.1"
    transport.publicAddress = "127.0.0.1"
    endpoint.transportCreate(pj.TransportType.UDP, transport)
    endpoint.libStart()
    return endpoint
