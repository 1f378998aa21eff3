#!/usr/bin/python3
# The `mongo` shell of mongo:5.0-focal as far as the stack uses it: the readiness probe's
# `mongo --quiet --eval "db.adminCommand('ping')"` (components/model/services.ts). It succeeds when the
# server accepts a connection on 127.0.0.1:27017, as the real shell's ping needs; anything else is refused,
# so a probe that asks more of this stand-in than it can answer fails instead of passing.
import socket
import sys

args = sys.argv[1:]
script = args[args.index("--eval") + 1] if "--eval" in args and args.index("--eval") + 1 < len(args) else None
if script is None or script.replace('"', "'").replace(" ", "") != "db.adminCommand('ping')":
    sys.stderr.write(f"mongo shell stand-in: only --eval \"db.adminCommand('ping')\" is supported, got {args}\n")
    sys.exit(2)
try:
    socket.create_connection(("127.0.0.1", 27017), timeout=2).close()
except OSError as e:
    sys.stderr.write(f"MongoNetworkError: connect ECONNREFUSED 127.0.0.1:27017 ({e})\n")
    sys.exit(1)
if "--quiet" not in args:
    print("MongoDB shell version v5.0 (stand-in)")
print("{ \"ok\" : 1 }")
