"""sam (Segment Anything, core's annotation refinement) as far as the contract and core's one call go.

Real: the FastAPI lifespan builds SAM2 from ${WEIGHTS_PATH}/${CHECKPOINT} (sam/app/main.py:14-30;
defaults ./weights and weights.pt, sam/app/config.py:23-24); when that fails the lifespan raises and
uvicorn exits 3. GET / answers {"version", "status": "healthy", "gpu"} (sam/app/api/server.py:10-16;
version 0.1.0, sam/app/__init__.py:3). POST ${API_BASE_PATH}/annotations/refine takes a multipart
form annotation_crop (file), image_height and image_width (int > 0) and location (WKT)
(sam/app/api/annotation.py:15-22); a location without area answers 400 (:23-27), an unreadable crop
400 with the exception's text (:45-46), and the result is a GeoJSON Feature in the image's
coordinates (sam/app/utils/annotations.py:32-92), which core reads with JTS's GeoJsonReader
(core/.../RestAnnotationDomainController.java:531-538).
Stand-in: no model. The weights file must exist and be non-empty; a valid refine request answers the
location's bounding box as that Feature, logged as a stand-in result.
"""
import os
import re

import standin_fastapi as fa
from standin_common import json_response, log

VERSION = "0.1.0"  # sam/app/__init__.py:3

# Magic numbers of the formats PIL opens that core sends or could (core crops as jpg: RestAnnotationDomainController.java:500).
IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*", b"BM", b"RIFF")


def check_weights(ctx):
    weights_path = ctx.get("WEIGHTS_PATH", "./weights")
    path = os.path.join(weights_path, ctx.get("CHECKPOINT", "weights.pt"))
    where = ctx.path(os.path.join("/app", path))  # relative to the image's WORKDIR /app (sam/Dockerfile:55)
    item = ctx.env_item("WEIGHTS_PATH")
    if not os.path.exists(where):
        failure = f"FileNotFoundError: [Errno 2] No such file or directory: '{path}'"
    elif os.path.isdir(where):
        failure = f"IsADirectoryError: [Errno 21] Is a directory: '{path}'"
    elif os.path.getsize(where) == 0:
        failure = f"EOFError: Ran out of input (torch.load of the empty file '{path}')"
    else:
        return where
    ctx.refuse(failure, "WEIGHTS_PATH", item["source"], f"the checkpoint {path} must be the operator's SAM2 weights")


# --- WKT: enough of it for area and bounds (shapely.wkt.loads in sam/app/utils/annotations.py:20,28).

TOKEN = re.compile(r"\s*([A-Za-z]+|\(|\)|,|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")


def parse_wkt(text):
    """(TYPE, nested lists of (x, y)); raises ValueError as shapely raises its ParseException."""
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"ParseException: Unexpected text at {pos}: {text[pos:pos + 20]!r}")
        tokens.append(m[1])
        pos = m.end()
    if not tokens or not tokens[0].isalpha():
        raise ValueError("ParseException: Expected word but encountered end of stream")
    kind, i = tokens[0].upper(), 1
    while i < len(tokens) and tokens[i].upper() in ("Z", "M", "ZM"):
        i += 1
    if i < len(tokens) and tokens[i].upper() == "EMPTY":
        return kind, []

    def nested(i):
        if tokens[i] != "(":
            raise ValueError("ParseException: Expected '('")
        i += 1
        items = []
        while True:
            if tokens[i] == "(":
                item, i = nested(i)
            else:
                nums = []
                while tokens[i] not in (",", ")"):
                    nums.append(float(tokens[i]))
                    i += 1
                if len(nums) < 2:
                    raise ValueError("ParseException: Expected number")
                item = tuple(nums[:2])
            items.append(item)
            if tokens[i] == ")":
                return items, i + 1
            i += 1  # ","

    try:
        coords, end = nested(i)
    except (IndexError, ValueError) as e:
        raise ValueError(str(e) if isinstance(e, ValueError) else "ParseException: Expected ')'") from e
    if end != len(tokens):
        raise ValueError("ParseException: Unexpected text after the geometry")
    if kind not in ("POINT", "LINESTRING", "POLYGON", "MULTIPOINT", "MULTILINESTRING", "MULTIPOLYGON"):
        raise ValueError(f"ParseException: Unknown type: '{kind}'")
    return kind, coords


def ring_area(ring):
    return abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1]))) / 2


def area(kind, coords):
    polygons = [coords] if kind == "POLYGON" else coords if kind == "MULTIPOLYGON" else []
    return sum(ring_area(p[0]) - sum(ring_area(h) for h in p[1:]) for p in polygons if p)


def points(coords):
    for c in coords:
        if isinstance(c, tuple):
            yield c
        else:
            yield from points(c)


def start(ctx):
    check_weights(ctx)
    refine = f"{ctx.get('API_BASE_PATH', '/api').rstrip('/')}/annotations/refine"

    def handle_refine(req):
        fields = fa.form(req)
        errors = []
        crop, err = fa.file_field(fields, "annotation_crop")
        errors += [err] if err else []
        for name in ("image_height", "image_width"):
            if name not in fields:
                errors.append(fa.missing("body", name))
            else:
                _, err = fa.int_field("body", name, fields[name].value, gt=0)
                errors += [err] if err else []
        if "location" not in fields:
            errors.append(fa.missing("body", "location"))
        if errors:
            return fa.unprocessable(errors)
        location = fields["location"].value
        try:
            kind, coords = parse_wkt(location)
        except ValueError as e:
            # has_positive_area runs outside the route's try (annotation.py:23): shapely's error is a 500.
            log(f"sam stand-in: shapely.errors.GEOSException: {e}")
            return fa.server_error()
        if not area(kind, coords) > 0:
            return fa.detail(400, "Annotation must have a positive area")
        if not crop.value.startswith(IMAGE_MAGIC):
            return fa.detail(400, "cannot identify image file <_io.BytesIO object>")
        xs, ys = zip(*points(coords))
        x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
        ring = [[x1, y0], [x1, y1], [x0, y1], [x0, y0], [x1, y0]]  # shapely's box(), counter-clockwise
        log(f"sam stand-in: refine answered with the bounding box of the location, not a segmentation ({x0},{y0},{x1},{y1})")
        return json_response(200, {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]}, "properties": {}})

    def handle(req):
        if req.path == "/":
            if req.method != "GET":
                return json_response(405, fa.METHOD_NOT_ALLOWED)
            return json_response(200, {"version": VERSION, "status": "healthy", "gpu": False})
        if req.path == refine:
            return handle_refine(req) if req.method == "POST" else json_response(405, fa.METHOD_NOT_ALLOWED)
        return json_response(404, fa.NOT_FOUND)

    return handle
