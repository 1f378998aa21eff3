"""Imports Bigpicture datasets into a tenant's Cytomine, as Cytomine's import_datasets.py does.

The logic of cytomine/cytomine's clients/python/examples/import_datasets.py through the pinned
`cytomine-python-client` from PyPI: connect to core with ImageServer1's keys (the image-server keys the
repository service writes onto that user), find its own storage, and ask PIMS to import (`Cytomine.import_datasets(storage_id, pims_url)`, a POST signed with
Cytomine's HMAC scheme). Written for Cytomine Fallback (components/datasets/); the keys never travel
on a command line: they come from a directory of 0400 files (`--keys-dir`, the Kubernetes Secret
volume) or from standard input as JSON (`{"publicKey": ..., "privateKey": ...}`, the VM step).

On a VM (`--record`, `--view`), it also keeps the record of what was imported and builds the import
view, PIMS's DATASET_PATH (see build_view): an entry per dataset folder (the folder holding
METADATA/dataset.xml, see dataset_folders) of the datasets of this run, a link PIMS imports, and of
the declared datasets earlier runs imported, a directory holding only a link IMAGES that PIMS skips
(PIMS saves annotations without an existence check: a second import duplicates them) but through
which the images it linked before stay served.
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


def warn(message):
    print(f"{PREFIX}: {message}", file=sys.stderr, flush=True)


def buckets_of(d, strict=True):
    """The bucket ({DATASET_UUID} folder) names of a dataset, checked on the host. Not strict (a served
    dataset): a problem is a warning, and what is there is used."""

    def problem(message):
        if strict:
            fail(3, message)
        warn(f"{message} (the images imported from it earlier are not served meanwhile)")

    root = d["hostDir"]
    if not os.path.isdir(root):
        what = "the sdafs mount point" if d.get("source") == "sdafs" else "datasets.list[i].path"
        problem(
            f"{where(d)}: {root} does not exist or is not a directory on this host ({what}): "
            "create or mount it, or correct the path, then run pulumi up again",
        )
        return []
    names = sorted(n for n in os.listdir(root) if os.path.isdir(os.path.join(root, n)))
    wanted = d.get("buckets")
    if wanted is not None:
        missing = [b for b in wanted if b not in names]
        if missing:
            problem(
                f"{where(d)}: {', '.join(missing)} not found under {root}: list in sdafs.datasets only "
                "datasets the credentials grant",
            )
        names = [b for b in wanted if b in names]
    if not names:
        problem(f"{where(d)}: {root} holds no {{DATASET_UUID}} folder: nothing PIMS could import")
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


SERVED = "IMAGES"


def view_entries(todo, served):
    """What the view must hold: entry name -> ("link", folder) for the datasets of this run (PIMS
    imports them), ("served", folder/IMAGES) for the datasets imported by earlier runs."""
    want = {}
    owner = {}
    for kind, datasets in (("link", todo), ("served", served)):
        for d in datasets:
            made = 0
            for b in buckets_of(d, strict=kind == "link"):
                folders = dataset_folders(d, b)
                if not folders:
                    warn(f"{where(d)}: {b} holds no METADATA/dataset.xml, nor does any folder in it: PIMS skips it")
                for name, sub in folders:
                    if name in owner:
                        fail(3, f"{name} is in both {owner[name]} and {where(d)}: a dataset folder can be imported from one dataset only")
                    owner[name] = where(d)
                    folder = "/".join(p for p in (d["mountPath"], b, sub) if p)
                    want[name] = (kind, folder) if kind == "link" else (kind, f"{folder}/{SERVED}")
                    made += 1
            if made:
                continue
            message = (
                f"{where(d)}: no folder under {d['hostDir']} holds METADATA/dataset.xml "
                "({DATASET_UUID}/DATASET_{ID}/METADATA/dataset.xml)"
            )
            if kind == "link":
                fail(3, f"{message}: nothing PIMS could import; run npm run dataset:check on it")
            warn(f"{message}: the images imported from it earlier are not served")
    return want


def entry_of(p):
    """An existing entry of the view as view_entries describes it; None for anything this import did not make."""
    if os.path.islink(p):
        return ("link", os.readlink(p))
    if os.path.isdir(p):
        inside = os.listdir(p)
        if inside == [SERVED] and os.path.islink(os.path.join(p, SERVED)):
            return ("served", os.readlink(os.path.join(p, SERVED)))
        if not inside:  # a served entry cut short
            return ("served", None)
    return None


def remove_entry(p):
    if os.path.islink(p):
        os.unlink(p)
        return
    if os.path.lexists(os.path.join(p, SERVED)):
        os.unlink(os.path.join(p, SERVED))
    os.rmdir(p)


def build_view(view, todo, served=()):
    """Makes `view` hold exactly one entry per dataset folder (dataset_folders) of the datasets to
    import (`todo`) and of those imported by earlier runs (`served`), in place (the directory is bound
    into PIMS) and touching only what changes.

    An entry's name depends on its folder only (`<bucket>--<folder>`, or `<bucket>`), so it is the
    same in every run. A dataset to import is a symbolic link to its folder: PIMS reads its METADATA
    and imports it. A served dataset is a directory holding only a link IMAGES to the folder's IMAGES:
    the pinned PIMS links each image it imports as ROOT/upload-<uuid>/<name> -> <DATASET_PATH>/<entry>/IMAGES/<alias>
    (cytomine/cytomine@0165ef761: pims/pims/importer/image.py:34-35,52-53), which keeps resolving, and
    finds no METADATA there, so it logs "does not exist or is not a directory ... Skipping discovery"
    (dataset.py:60-65), `parser.parent` raises StopIteration (dataset.py:50-52) and the per-bucket
    `except Exception` skips the bucket (dataset.py:133-142,203-205): nothing of it is imported again.
    A dataset no longer declared loses its entry, and so its images are no longer served.
    Returns {"buckets": entries PIMS imports, "served": served entries}."""
    want = view_entries(todo, served)
    os.makedirs(view, mode=0o755, exist_ok=True)
    have = {}
    for name in sorted(os.listdir(view)):
        p = os.path.join(view, name)
        have[name] = entry_of(p)
        if have[name] is None:
            fail(
                3,
                f"{p} is not an entry this import made: move it away (the import view holds only links, "
                f"and directories holding only a link {SERVED})",
            )
    for name, entry in have.items():
        if want.get(name) != entry:
            remove_entry(os.path.join(view, name))
    for name, (kind, target) in sorted(want.items()):
        if have.get(name) == (kind, target):
            continue
        p = os.path.join(view, name)
        if kind == "link":
            os.symlink(target, p)
        else:
            os.mkdir(p, 0o755)
            os.symlink(target, os.path.join(p, SERVED))
    return {
        "buckets": sorted(n for n, (k, _) in want.items() if k == "link"),
        "served": sorted(n for n, (k, _) in want.items() if k == "served"),
    }


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
    # Declared, and imported by an earlier run (at this revision): their images stay served.
    served = [d for d in datasets if d not in todo and d["id"] in (record or {}).get("imported", {})]
    if not todo:
        # Still the view: a removed dataset's entry goes, and every imported one is served (none shows
        # PIMS its METADATA, as nothing is to be imported).
        view = build_view(args.view, [], served) if args.view else {"served": None}
        last = (record or {}).get("lastRun")
        print(
            f"{PREFIX}-import "
            + json.dumps({"run": last, "imported": [], "served": view["served"], "note": "nothing new to import"}),
            flush=True,
        )
        return
    run = {"id": run_id(todo), "datasets": [d["id"] for d in todo]}
    view = build_view(args.view, todo, served) if args.view else {"buckets": None, "served": None}
    public_key, private_key = read_keys(args)
    storage, response = import_run(args, public_key, private_key)
    if record is not None:
        record["imported"].update({d["id"]: d["revision"] for d in todo})
        record["lastRun"] = run
        save_record(args.record, record)
    print(
        f"{PREFIX}-import "
        + json.dumps(
            {
                "run": run,
                "imported": run["datasets"],
                "buckets": view["buckets"],
                "served": view["served"],
                "storage": storage,
                "response": response,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
