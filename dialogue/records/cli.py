"""`cca privacy`: the privacy layer from the command line.

    cca privacy eval [--json]                        recall and precision of the redaction
    cca privacy erase --customer ID | --email ADDR   remove a customer and all of theirs (JSON)
    cca privacy retention --days N                   remove conversations older than N days
    cca privacy rotate-key                           re-encrypt with the first key of CCA_RECORDS_KEY
    cca privacy new-key                              print a fresh key for CCA_RECORDS_KEY
    cca privacy export --out FILE                    consented conversations as training JSONL
    cca privacy key create --name N --role R         a new API key (agent, supervisor, admin)
    cca privacy key list | key revoke --name N       the keys (never their secrets); revoke one

The store is `--db` (a URL, or a path for an SQLite file), by default `CCA_RECORDS_DB`, else
runs/records.db. The key comes from `CCA_RECORDS_KEY` or `CCA_RECORDS_KEY_FILE`.

With `CCA_API_KEY` set, each command runs as that key's principal and its role is enforced
(`dialogue.records.access`: erase, retention, rotate-key, export and key management need admin).
Without it, the command runs as the operator who holds the database and the records key, audited
as cli:$USER: that is how the first admin key is made.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from types import SimpleNamespace

from dialogue.records.crypto import RecordsKeyError, new_key
from dialogue.records.schema import USER_ROLES

DEFAULT_DB = "runs/records.db"
ENV_API_KEY = "CCA_API_KEY"


def _db_default() -> str:
    return os.environ.get("CCA_RECORDS_DB") or DEFAULT_DB


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["eval"]:
        from dialogue.records.privacy_eval import main as eval_main

        return eval_main(argv[1:])
    p = argparse.ArgumentParser(prog="cca privacy", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("eval", help="recall and precision of the redaction (see `cca privacy eval -h`)")
    erase = sub.add_parser("erase", help="remove a customer's rows, recordings and exported lines")
    who = erase.add_mutually_exclusive_group(required=True)
    who.add_argument("--customer", help="the customer id")
    who.add_argument("--email", help="every customer with this email")
    ret = sub.add_parser("retention", help="remove conversations older than --days")
    ret.add_argument("--days", type=float, required=True)
    sub.add_parser("rotate-key", help="re-encrypt with the first key of CCA_RECORDS_KEY")
    sub.add_parser("new-key", help="print a fresh random key")
    exp = sub.add_parser("export", help="consented conversations as dialogue JSONL")
    exp.add_argument("--out", required=True)
    key = sub.add_parser("key", help="API keys: create, list, revoke")
    key_sub = key.add_subparsers(dest="key_command", required=True)
    create = key_sub.add_parser("create", help="a new key, printed once")
    create.add_argument("--name", required=True, help="who or what holds the key")
    create.add_argument("--role", required=True, choices=USER_ROLES)
    revoke = key_sub.add_parser("revoke", help="revoke a key by its name")
    revoke.add_argument("--name", required=True)
    listing = key_sub.add_parser("list", help="every key: name, role, key id, times")
    for sp in (erase, ret, sub.choices["rotate-key"], exp, create, revoke, listing):
        sp.add_argument(
            "--db", default=_db_default(), help="store URL or SQLite path (default: %(default)s)"
        )
    args = p.parse_args(argv)
    if args.command == "new-key":
        print(new_key())
        return 0
    from dialogue.records.store import Store

    try:
        with Store.open(args.db, actor=f"cli:{os.environ.get('USER', 'unknown')}") as store:
            out = _run(records(store), args)
    except (RecordsKeyError, PermissionError) as e:
        print(f"cca privacy: {e}", file=sys.stderr)
        return 2
    except (KeyError, ValueError) as e:
        print(f"cca privacy: {e.args[0] if e.args else e}", file=sys.stderr)
        return 1
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0


def records(store):
    """The store as `CCA_API_KEY`'s principal sees it, or the operator's own without one."""
    from dialogue.records import access, erase

    key = os.environ.get(ENV_API_KEY)
    if key:
        return access.AccessControlledStore(store, access.authenticate(store, key))
    return SimpleNamespace(
        erase_customer=lambda **kw: erase.erase_customer(store, **kw),
        apply_retention=lambda days: erase.apply_retention(store, days),
        rotate_key=store.rotate_key,
        export_training_data=lambda out: erase.export_training_data(store, out),
        create_api_key=lambda name, role: access.create_api_key(store, name, role),
        list_api_keys=lambda: access.list_api_keys(store),
        revoke_api_key=lambda name: access.revoke_api_key(store, name),
    )


def _run(rec, args) -> object:
    if args.command == "erase":
        return rec.erase_customer(customer_id=args.customer, email=args.email).to_dict()
    if args.command == "retention":
        return rec.apply_retention(args.days).to_dict()
    if args.command == "rotate-key":
        return rec.rotate_key()
    if args.command == "export":
        return {"conversations": rec.export_training_data(args.out), "path": args.out}
    if args.key_command == "create":
        key = rec.create_api_key(args.name, args.role)
        return {"name": args.name, "role": args.role, "key": key,
                "note": "shown once: only a hash is kept"}  # fmt: skip
    if args.key_command == "revoke":
        rec.revoke_api_key(args.name)
        return {"revoked": args.name}
    return rec.list_api_keys()


if __name__ == "__main__":
    sys.exit(main())
