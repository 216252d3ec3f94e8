"""SIPp injection files (``-inf``) for the register scenarios, and the matching node accounts.

The CSV has one line per user, ``;``-separated, after a first line giving the order SIPp reads
them in (``SEQUENTIAL``, ``RANDOM`` or ``USER``)::

    SEQUENTIAL
    1001;demo1001;switchboard.local;[authentication username=1001 password=demo1001]

field0 user, field1 password, field2 SIP domain, field3 the ``[authentication]`` keyword.
SIPp 3.6 expands keywords inside an injected field but not ``[fieldN]`` inside
``[authentication ...]``, which is why field3 repeats the credentials.

``python -m loadtest.users --count 20 -o users.csv`` writes the demo tenant's agents
(1001..1020, password ``demo`` + number); ``--accounts-yaml FILE`` also writes the node's
``accounts:`` section for the same users, for a load-test tenant with thousands of them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

ORDERS = ("SEQUENTIAL", "RANDOM", "USER")


@dataclass(frozen=True)
class User:
    username: str
    password: str


def numbered_users(count: int, *, start: int = 1001, password_prefix: str = "demo") -> list[User]:
    """``count`` users numbered from ``start``; password = prefix + number (the demo's rule)."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    return [User(str(n), f"{password_prefix}{n}") for n in range(start, start + count)]


def _check_field(value: str, what: str) -> str:
    # ';' separates fields and a newline ends the line; ']' or a space would cut the keyword.
    if not value or any(ch in value for ch in ";\r\n] \t"):
        raise ValueError(f"{what} {value!r} cannot go in a SIPp injection file "
                         "(empty, or contains ';', ']', whitespace or a newline)")
    return value


def users_csv(users: Iterable[User], domain: str, *, order: str = "SEQUENTIAL") -> str:
    """The text of a SIPp injection file for ``register_auth.xml`` and ``unregister.xml``."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    _check_field(domain, "domain")
    lines = [order]
    for user in users:
        name = _check_field(user.username, "username")
        password = _check_field(user.password, "password")
        auth = f"[authentication username={name} password={password}]"
        lines.append(f"{name};{password};{domain};{auth}")
    if len(lines) == 1:
        raise ValueError("no users to write")
    return "\n".join(lines) + "\n"


def write_users_csv(path: Path, users: Iterable[User], domain: str,
                    *, order: str = "SEQUENTIAL") -> Path:
    path.write_text(users_csv(users, domain, order=order))
    return path


def accounts_yaml(users: Iterable[User]) -> str:
    """The node config's ``accounts:`` section for ``users`` (merge it into the tenant YAML)."""
    accounts = [{"username": u.username, "password": u.password} for u in users]
    return yaml.safe_dump({"accounts": accounts}, sort_keys=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a SIPp users CSV (and node accounts).")
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--start", type=int, default=1001)
    parser.add_argument("--password-prefix", default="demo")
    parser.add_argument("--domain", default="switchboard.local")
    parser.add_argument("--order", choices=ORDERS, default="SEQUENTIAL")
    parser.add_argument("-o", "--output", type=Path, default=Path("users.csv"))
    parser.add_argument("--accounts-yaml", type=Path, default=None,
                        help="also write the node's accounts: section for these users")
    args = parser.parse_args(argv)
    try:
        users = numbered_users(args.count, start=args.start, password_prefix=args.password_prefix)
        write_users_csv(args.output, users, args.domain, order=args.order)
    except ValueError as exc:
        parser.error(str(exc))
    if args.accounts_yaml is not None:
        args.accounts_yaml.write_text(accounts_yaml(users))
    print(f"wrote {len(users)} users to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
