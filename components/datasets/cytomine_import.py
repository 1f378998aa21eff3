"""Imports Bigpicture datasets into a tenant's Cytomine, as Cytomine's import_datasets.py does.

The logic of cytomine/cytomine's clients/python/examples/import_datasets.py through the pinned
`cytomine-python-client` from PyPI: connect to core with ImageServer1's keys (the image-server keys the
repository service writes onto that user), find its own storage, and ask PIMS to import (`Cytomine.import_datasets(storage_id, pims_url)`, a POST signed with
Cytomine's HMAC scheme). Written for Cytomine Fallback (components/datasets/); the keys never travel
on a command line: they come from a directory of 0400 files (`--keys-dir`, the Kubernetes Secret
volume) or from standard input as JSON (`{"publicKey": ..., "privateKey": ...}`, the VM step).

On a VM (`--record`, `--view`), it also keeps the record of what was imported and builds the import
view, PIMS's DATASET_PATH: one symbolic link per dataset folder (the folder holding
METADATA/dataset.xml, see dataset_folders) of the datasets of this run, so PIMS imports only those (PIMS saves annotations without an existence check: a second import duplicates them).
On Kubernetes the program keeps the record and the PIMS pod builds the view (init container).

Exit codes: 0 imported or nothing to import, 3 a dataset is missing or malformed, 4 core rejected the
keys, 5 core or PIMS did not answer, 6 no storage, 7 PIMS refused the import, 2 usage.
"""

import argparse
import hashlib
import json
import logging
import os
import sys
from urllib.parse import urljoin

PREFIX = "cytomine-fallback"


def fail(code, message):
    print(f"{PREFIX}: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


def run_id(todo):
    key = sorted(f"{d['id']}={d['revision']}" for d in todo)
    return hashlib.sha256("\n".join(key).encode("utf-8")).hexdigest()[:10]


def load_record(path):
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except FileNotFoundError:
        return {"imported": {}}
    except (OSError, ValueError) as e:
        fail(3, f"the import record {path} is unreadable ({e}): fix or remove it (removing it imports every dataset again)")
    if not isinstance(record.get("imported"), dict):
        record["imported"] = {}
    return record


def save_record(path, record):
    tmp = f"{path}.new"
    with open(tmp, "w", encoding="utf-8") as f:
        imported = dict(sorted(record["imported"].items()))
        json.dump({"imported": imported, "lastRun": record.get("lastRun")}, f, indent=2)
        f.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def where(d):
    return f"datasets.list[{d.get('index', '?')}] ({d['id']})"


def buckets_of(d):
    """The bucket ({DATASET_UUID} folder) names of a dataset, checked on the host."""
    root = d["hostDir"]
    if not os.path.isdir(root):
        what = "the sdafs mount point" if d.get("source") == "sdafs" else "datasets.list[i].path"
        fail(
            3,
            f"{where(d)}: {root} does not exist or is not a directory on this host ({what}): "
            "create or mount it, or correct the path, then run pulumi up again",
        )
    names = sorted(n for n in os.listdir(root) if os.path.isdir(os.path.join(root, n)))
    wanted = d.get("buckets")
    if wanted is not None:
        missing = [b for b in wanted if b not in names]
        if missing:
            fail(
                3,
                f"{where(d)}: {', '.join(missing)} not found under {root}: list in sdafs.datasets only "
                "datasets the credentials grant",
            )
        names = list(wanted)
    if not names:
        fail(3, f"{where(d)}: {root} holds no {{DATASET_UUID}} folder: nothing PIMS could import")
    return names


def dataset_folders(d, bucket):
    """The folders of a bucket PIMS can import: each one that directly holds METADATA/dataset.xml.

    The pinned PIMS takes every direct subdirectory of DATASET_PATH as a bucket and reads
    `<bucket>/METADATA/dataset.xml` and `<bucket>/IMAGES/<IMAGE_REF alias>` there, and a complementing
    dataset's annotations at `<bucket>/<child>/METADATA/` (cytomine/cytomine@0165ef761:
    pims/pims/importer/dataset.py:44-111,118-175; importer/image.py:26-35). Bigpicture trees hold
    their dataset one level deeper, `{DATASET_UUID}/DATASET_{ID}/METADATA/dataset.xml` (Cytomine's
    docs/src/admin-guide/docker/configuration.md:84-110, and lib/datasets' validator). So a bucket
    that holds METADATA/dataset.xml itself is linked as it is (its subfolders are its children);
    otherwise each direct subfolder that holds one is linked, as `<bucket>--<folder>`.
    Returns [(link name, path under the bucket or "")]."""
    root = os.path.join(d["hostDir"], bucket)
    if os.path.isfile(os.path.join(root, "METADATA", "dataset.xml")):
        return [(bucket, "")]
    return [
        (f"{bucket}--{n}", n)
        for n in sorted(os.listdir(root))
        if os.path.isfile(os.path.join(root, n, "METADATA", "dataset.xml"))
    ]


def build_view(view, todo):
    """Makes `view` hold exactly one link per dataset folder of the datasets to import (dataset_folders)."""
    os.makedirs(view, mode=0o755, exist_ok=True)
    for name in os.listdir(view):
        p = os.path.join(view, name)
        if not os.path.islink(p):
            fail(3, f"{p} is not a link this import made: move it away (the import view holds only links)")
        os.unlink(p)
    owner = {}
    for d in todo:
        linked = 0
        for b in buckets_of(d):
            folders = dataset_folders(d, b)
            if not folders:
                print(
                    f"{PREFIX}: {where(d)}: {b} holds no METADATA/dataset.xml, nor does any folder in it: PIMS skips it",
                    file=sys.stderr,
                    flush=True,
                )
            for name, sub in folders:
                if name in owner:
                    fail(3, f"{name} is in both {owner[name]} and {where(d)}: a dataset folder can be imported from one dataset only")
                owner[name] = where(d)
                os.symlink("/".join(p for p in (d["mountPath"], b, sub) if p), os.path.join(view, name))
                linked += 1
        if not linked:
            fail(
                3,
                f"{where(d)}: no folder under {d['hostDir']} holds METADATA/dataset.xml "
                "({DATASET_UUID}/DATASET_{ID}/METADATA/dataset.xml): nothing PIMS could import; run npm run dataset:check on it",
            )
    return sorted(owner)


def read_keys(args):
    if args.keys_dir:
        values = []
        for name in ("image-server-public-key", "image-server-private-key"):
            try:
                with open(os.path.join(args.keys_dir, name), encoding="utf-8") as f:
                    values.append(f.read().strip())
            except OSError as e:
                fail(2, f"cannot read {name} in {args.keys_dir}: {e.strerror}")
        return values[0], values[1]
    try:
        keys = json.loads(sys.stdin.read())
        return keys["publicKey"], keys["privateKey"]
    except (ValueError, KeyError, TypeError):
        fail(2, 'expected the image-server keys on standard input as {"publicKey": ..., "privateKey": ...}')


def import_run(args, public_key, private_key):
    from cytomine import Cytomine
    from cytomine.models import StorageCollection

    try:
        client = Cytomine(host=args.core, public_key=public_key, private_key=private_key, configure_logging=False)
    except Exception as e:  # requests' connection errors and the like
        fail(5, f"core at {args.core} does not answer ({e.__class__.__name__}): check that Cytomine runs, then run pulumi up again")
    with client as c:
        if not c.current_user:
            # The client keeps only "no user"; ask once more to name the status in the message.
            status = c._get("user/current.json", None).status_code
            fail(
                4,
                f"core at {args.core} rejected the image-server keys (HTTP {status} on /api/user/current.json): the import "
                "signs as ImageServer1 with the keys the stack generated (image-server-public-key, image-server-private-key), "
                "which the repository service writes onto that user at start; check that it runs with the stack's current env, then run pulumi up again",
            )
        storages = StorageCollection().fetch()
        mine = [s for s in (storages or []) if getattr(s, "user", None) == c.current_user.id]
        if not mine:
            fail(6, f"core at {args.core} lists no storage of ImageServer1 (id {c.current_user.id}): create one in Cytomine, then run pulumi up again")
        pims_url = urljoin(args.pims, args.import_uri)
        response = c.import_datasets(mine[0].id, pims_url)
        if not response:
            fail(
                7,
                f"PIMS at {pims_url} refused the import (its answer is on the line above; HTTP 401 means it "
                "rejected the request's signature): nothing was recorded, run pulumi up again once fixed",
            )
        return mine[0].id, response


def main():
    parser = argparse.ArgumentParser(description="Import Bigpicture datasets into Cytomine (Cytomine Fallback)")
    parser.add_argument("--core", required=True, help="core's base URL, e.g. http://core:8080")
    parser.add_argument("--pims", required=True, help="PIMS's base URL, e.g. http://pims:5000")
    parser.add_argument("--import-uri", default="/ims/import")
    parser.add_argument("--datasets", required=True, help="JSON list of {id, revision, index, source, hostDir, mountPath, buckets}")
    parser.add_argument("--record", help="VM: the record of imported datasets (JSON)")
    parser.add_argument("--view", help="VM: the import view directory (PIMS's DATASET_PATH on the host)")
    parser.add_argument("--keys-dir", help="a directory holding image-server-public-key and image-server-private-key (else JSON on stdin)")
    args = parser.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(message)s")

    datasets = json.loads(args.datasets)
    record = load_record(args.record) if args.record else None
    if record is None:
        todo = datasets
    else:
        todo = [d for d in datasets if record["imported"].get(d["id"]) != d["revision"]]
    if not todo:
        last = (record or {}).get("lastRun")
        print(f"{PREFIX}-import " + json.dumps({"run": last, "imported": [], "note": "nothing new to import"}), flush=True)
        return
    run = {"id": run_id(todo), "datasets": [d["id"] for d in todo]}
    buckets = build_view(args.view, todo) if args.view else None
    public_key, private_key = read_keys(args)
    storage, response = import_run(args, public_key, private_key)
    if record is not None:
        record["imported"].update({d["id"]: d["revision"] for d in todo})
        record["lastRun"] = run
        save_record(args.record, record)
    print(
        f"{PREFIX}-import "
        + json.dumps({"run": run, "imported": run["datasets"], "buckets": buckets, "storage": storage, "response": response}),
        flush=True,
    )


if __name__ == "__main__":
    main()
