"""`cca export-training-data`: consented, redacted conversations as dialogue JSONL for `cca train`.

    cca export-training-data --out runs/records-train.jsonl [--db URL]

The retraining loop, each step a command:

1. collect: the agent writes every turn to the conversation store (`dialogue.records.store`),
   with the customer's consent to training use on the conversation;
2. redact: the store redacts every text on the way in (emails, phones, cards, addresses ...),
   so nothing unredacted is ever exported; supervisors rate turns and correct replies
   (`Store.add_feedback`);
3. export: this command writes the consented conversations, corrected replies in place of the
   agent's, as `dialogue.lm.convdata` JSONL (meta: conversation_id, good_turns, corrected_turns), and
   registers the file so that a later erasure removes its lines too;
4. train: append the export to the base training split (its ids, records-<uuid>, do not clash),
   `cat data/dialogue/train.jsonl runs/records-train.jsonl > runs/train-plus.jsonl`, point a
   recipe's `[data] train` at that file, and run `cca train RECIPE.toml`;
5. evaluate: `cca eval dialogue` on the held-out test split, for the new adapter and for the
   model now serving, and `cca eval conversations` / `cca eval injection` for the whole agent;
6. promote the new model only if it is better on the dialogue metrics and no worse on task
   success, with 0 wrong, unconfirmed or unauthorised actions; otherwise keep the current one.

The store is `--db` (default `CCA_RECORDS_DB`, else runs/records.db); the records key comes from
`CCA_RECORDS_KEY`. With `CCA_API_KEY` set, the key must have the admin role.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from dialogue.records.cli import _db_default, records
from dialogue.records.crypto import RecordsKeyError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cca export-training-data", description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="the JSONL file to write")
    p.add_argument(
        "--db", default=_db_default(), help="store URL or SQLite path (default: %(default)s)"
    )
    args = p.parse_args(argv)
    from dialogue.records.store import Store

    try:
        with Store.open(args.db, actor=f"cli:{os.environ.get('USER', 'unknown')}") as store:
            n = records(store).export_training_data(args.out)
    except (RecordsKeyError, PermissionError) as e:
        print(f"cca export-training-data: {e}", file=sys.stderr)
        return 2
    print(json.dumps({"conversations": n, "path": args.out}))
    if n == 0:
        print("no consented conversation with an agent turn to export", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
