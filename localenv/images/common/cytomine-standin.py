#!/usr/bin/env python3
"""Stand-in for one service of the pinned Cytomine release, built from that release's contract.

  cytomine-standin.py <component> [--contract FILE] [--port N] [--root DIR] [--wait SECONDS]

The contract is components/model/release.ts's CONTRACTS[<component>] as JSON (the image build
writes it to /etc/cytomine-standin/contract.json). At start, in this order, the stand-in refuses to
start the way the real image does -- the contract item's `failure` text on stderr, then
`stand-in: <component>: <name> (<source>)`, exit with the contract's exitCode -- when:

  1. a required environment variable is missing or empty;
  2. a writable path is not writable for this uid (a file is created and removed there);
  3. a file the service reads at start does not exist;
  4. a service-specific check fails (database, extensions, MongoDB, ...: see standin_<service>.py).

Then it serves the contract's port, logging every request to stdout. Paths it does not implement
answer 404 (or 401 where the real service demands authentication first), never success.

--root DIR prefixes every filesystem path of the contract (and the service's own files) so the
checks can run outside a container; --wait bounds the waits for databases (default 60 s, as Spring's
connection pool would wait).
"""
import argparse
import importlib
import json
import os
import sys

# Never write __pycache__ next to the modules: they are a build context whose digest names the image.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import standin_common  # noqa: E402

MODULES = {
    "core": "standin_core",
    "repository": "standin_repository",
    "web-ui": "standin_webui",
    "meilisearch": "standin_meilisearch",
    "pims": "standin_pims",
    "app-engine": "standin_appengine",
    "sam": "standin_sam",
    "cbir": "standin_cbir",
}


def main(argv):
    parser = argparse.ArgumentParser(prog="cytomine-standin.py")
    parser.add_argument("component", choices=sorted(MODULES))
    parser.add_argument("--contract", default="/etc/cytomine-standin/contract.json")
    parser.add_argument("--port", type=int, help="the port to listen on (default: the contract's)")
    parser.add_argument("--root", default="/", help="prefix of every filesystem path (default /)")
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for databases")
    args = parser.parse_args(argv)

    with open(args.contract, encoding="utf-8") as f:
        contract = json.load(f)
    if contract.get("component") != args.component:
        sys.stderr.write(
            f"stand-in: {args.contract} describes {contract.get('component')!r}, not {args.component!r}\n"
        )
        return 2

    ctx = standin_common.Context(args.component, contract, os.environ, args.root, args.wait)
    standin_common.check_env(ctx)
    standin_common.check_writable(ctx)
    standin_common.check_files(ctx)
    module = importlib.import_module(MODULES[args.component])
    app = module.start(ctx)
    standin_common.serve(ctx, args.port or contract["port"], app)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
