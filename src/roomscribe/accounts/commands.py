"""`roomscribe admin create HANDLE`: make a site admin from the command line.

The password comes from `--password`, else from a prompt (asked twice) on a terminal, else from
the first line of standard input, so `echo "$PW" | roomscribe admin create ada` works in scripts
without the password showing in the process list.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from roomscribe.config import Settings
from roomscribe.errors import InvalidInput


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    admin = sub.add_parser("admin", help="manage site admins")
    asub = admin.add_subparsers(dest="admin_command", required=True, metavar="ACTION")
    create = asub.add_parser(
        "create", help="create HANDLE as an admin, or make an existing account an admin",
        description="Create the account HANDLE with the admin role, or give an existing account "
                    "the admin role (its password is kept unless --password is given).")
    create.add_argument("handle", metavar="HANDLE")
    create.add_argument("--password", help="the password (default: prompt, or read stdin)")
    create.add_argument("--display-name", metavar="NAME", help="shown name (default: HANDLE)")
    create.set_defaults(handler=_create)


def _create(args: argparse.Namespace, settings: Settings) -> int:
    from roomscribe.accounts.service import AccountService
    from roomscribe.db import create_all, make_engine

    engine = make_engine(settings)
    create_all(engine)
    service = AccountService(engine)
    password = args.password
    if password is None and service.find(args.handle) is None:
        password = _ask_password()
    account, created = service.make_admin(args.handle, password=password,
                                          display_name=args.display_name)
    engine.dispose()
    print(f"{account.handle} {'created as an admin' if created else 'is now an admin'}")
    return 0


def _ask_password() -> str:
    if not sys.stdin.isatty():
        line = sys.stdin.readline().rstrip("\n")
        if not line:
            raise InvalidInput("no password: pass --password or pipe it on standard input")
        return line
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise InvalidInput("the passwords differ")
    return first
