"""The demo tenant's IVR: the flow behind ``100``, as plain data a YAML file would hold.

examples/ivr/main.yaml is the same flow written as YAML (a test keeps the two equal) and
docs/ivr.md walks through it. What a caller hears:

1. A greeting, then the business-hours check (Europe/London: Mon-Fri 08:00-20:00, Sat
   09:00-13:00; closed on the listed holidays, short hours on Christmas Eve).
2. Closed: the hours are read out, then 1 leaves a voicemail, 2 asks for a callback
   (no choice: voicemail).
3. Open: a lookup of the caller in the demo customer system (``{api}/demo/customers/
   {caller}``, served by the node's own HTTP API; see :func:`demo_customer`). VIP callers are
   greeted by name and go straight to the ``vip`` queue. A failing lookup (unknown caller,
   error, no answer within 2 s) takes the fallback branch: the main menu.
4. The main menu: 1 support (a CSAT + NPS survey is requested for after the call), 2 sales,
   3 the opening hours as a self-service answer (the call is marked resolved and ends),
   0 the vip queue. A wrong key or silence is retried twice, then the call goes to support.

Queue names are the demo routing's: support, sales, vip (switch/demo.py). Waiting callers
hear music on hold, which is the runner's part once call delivery lands.
"""

from __future__ import annotations

from typing import Any

HOURS_TEXT = ("We are open Monday to Friday from 8 in the morning to 8 in the evening, and on"
              " Saturday from 9 until 1, UK time.")

CUSTOMERS_URL = "{api}/demo/customers/"  # the demo customer system, served by the node
# What the demo customer system knows (GET {api}/demo/customers/{caller}); others get 404.
DEMO_CUSTOMERS: dict[str, dict[str, Any]] = {
    "+441632960001": {"name": "Ada", "tier": "vip", "open_ticket": None},
    "+441632960002": {"name": "Grace", "tier": None, "open_ticket": "T-1042"},
    "1001": {"name": "Agent 1001", "tier": "vip", "open_ticket": None},
}


def demo_customer(caller: str) -> dict[str, Any] | None:
    """The JSON body the demo customer endpoint answers for ``caller`` (None: 404)."""
    customer = DEMO_CUSTOMERS.get(caller)
    return None if customer is None else {"customer": dict(customer, number=caller)}


def uses_demo_customers(flows: dict[str, Any]) -> bool:
    """Does a flow look callers up in the demo customer system (then the node serves it)?"""
    return any(isinstance(node, dict) and node.get("type") == "lookup"
               and str(node.get("url", "")).startswith(CUSTOMERS_URL)
               for flow in flows.values() if isinstance(flow, dict)
               for node in (flow.get("nodes") or {}).values())


def demo_hours() -> dict[str, Any]:
    weekday = ["08:00-20:00"]
    return {
        "timezone": "Europe/London",
        "weekly": {"mon": weekday, "tue": weekday, "wed": weekday, "thu": weekday,
                   "fri": weekday, "sat": ["09:00-13:00"]},
        "holidays": ["2026-12-25", "2026-12-26", "2027-01-01",
                     {"date": "2026-12-24", "hours": ["08:00-12:00"]}],
    }


def demo_main_flow() -> dict[str, Any]:
    return {
        "description": "The demo tenant's main line (100): hours, VIP lookup, menu.",
        "start": "greeting",
        "nodes": {
            "greeting": {"type": "play", "next": "hours",
                         "prompt": "Thank you for calling Switchboard, the demo contact"
                                   " center."},
            "hours": {"type": "condition",
                      "branches": [{"when": {"hours": demo_hours()}, "next": "lookup"}],
                      "else": "closed"},
            "closed": {"type": "menu",
                       "prompt": f"We are closed right now. {HOURS_TEXT} To leave a message,"
                                 " press 1. To have us call you back, press 2.",
                       "options": {"1": "voicemail", "2": "callback"},
                       "on_failure": "voicemail"},
            "voicemail": {"type": "voicemail", "mailbox": "support", "max_seconds": 120,
                          "prompt": "Please leave your message after the tone."},
            "callback": {"type": "callback", "queue": "support",
                         "prompt": "Thank you. We will call you back on this number when"
                                   " we open. Goodbye."},
            "lookup": {"type": "lookup", "url": CUSTOMERS_URL + "{caller}",
                       "timeout": 2,
                       "set": {"tier": "customer.tier", "name": "customer.name",
                               "open_ticket": "customer.open_ticket"},
                       "next": "vip_check", "on_failure": "main_menu"},
            "vip_check": {"type": "condition",
                          "branches": [{"when": {"tier": "vip"}, "next": "vip_welcome"}],
                          "else": "main_menu"},
            "vip_welcome": {"type": "play", "next": "vip_queue",
                            "prompt": "Welcome back, {name}. Connecting you to your"
                                      " priority team."},
            "main_menu": {"type": "menu",
                          "prompt": "For support, press 1. For sales, press 2. To hear our"
                                    " opening hours, press 3. For our priority team,"
                                    " press 0.",
                          "options": {"1": "support_survey", "2": "sales_queue",
                                      "3": "opening_hours", "0": "vip_queue"},
                          "timeout": 5, "retries": 2,
                          "invalid": "Sorry, that is not one of the choices.",
                          "no_input": "Sorry, I did not hear a choice.",
                          "on_failure": "support_queue"},
            "opening_hours": {"type": "answer", "topic": "opening_hours",
                              "prompt": f"{HOURS_TEXT} Thank you for calling. Goodbye."},
            "support_survey": {"type": "survey", "next": "support_queue",
                               "questions": {
                                   "csat": "How satisfied were you with your call today,"
                                           " from 1 to 5?",
                                   "nps": "How likely are you to recommend us to a friend,"
                                          " from 0 to 10?"}},
            "support_queue": {"type": "queue", "queue": "support"},
            "sales_queue": {"type": "queue", "queue": "sales"},
            "vip_queue": {"type": "queue", "queue": "vip", "priority": 10},
        },
    }


def demo_flows() -> dict[str, Any]:
    """The demo's ``ivr:`` section: flow name -> flow data."""
    return {"main": demo_main_flow()}
