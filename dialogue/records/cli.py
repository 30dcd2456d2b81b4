"""`cca privacy`: the privacy layer from the command line.

    cca privacy eval [--json]                        recall and precision of the redaction
    cca privacy erase --customer ID | --email ADDR   remove a customer and all of theirs (JSON)
    cca privacy retention --days N                   remove conversations older than N days
    cca privacy rotate-key                           re-encrypt with the first key of CCA_RECORDS_KEY
    cca privacy new-key                              print a fresh key for CCA_RECORDS_KEY
    cca privacy export --out FILE                    consented conversations as training JSONL

The store is `--db` (a URL, or a path for an SQLite file), by default `CCA_RECORDS_DB`, else
runs/records.db. The key comes from `CCA_RECORDS_KEY` or `CCA_RECORDS_KEY_FILE`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from dialogue.records.crypto import RecordsKeyError, new_key

DEFAULT_DB = "runs/records.db"


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
    for sp in (erase, ret, sub.choices["rotate-key"], exp):
        sp.add_argument(
            "--db", default=_db_default(), help="store URL or SQLite path (default: %(default)s)"
        )
    args = p.parse_args(argv)
    if args.command == "new-key":
        print(new_key())
        return 0
    from dialogue.records.erase import apply_retention, erase_customer, export_training_data
    from dialogue.records.store import Store

    try:
        with Store.open(args.db, actor=f"cli:{os.environ.get('USER', 'unknown')}") as store:
            if args.command == "erase":
                out = erase_customer(store, customer_id=args.customer, email=args.email).to_dict()
            elif args.command == "retention":
                out = apply_retention(store, args.days).to_dict()
            elif args.command == "rotate-key":
                out = store.rotate_key()
            else:
                out = {"conversations": export_training_data(store, args.out), "path": args.out}
    except RecordsKeyError as e:
        print(f"cca privacy: {e}", file=sys.stderr)
        return 2
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
