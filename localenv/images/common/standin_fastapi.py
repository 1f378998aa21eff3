"""What the FastAPI services (sam, cbir) answer on their own, before or around their routes: form
parsing, request validation errors (422), 404/405 and the 500 of an unhandled exception.

Both pin fastapi 0.136.3 with pydantic 2.11.7 and starlette 1.3.1 (sam/uv.lock; cbir/uv.lock), whose
422 body is {"detail": [{"type", "loc", "msg", "input"[, "ctx"]}, ...]} listing every invalid
parameter in declaration order (fastapi/exception_handlers.py; pydantic-core's error types).
"""
import json
from urllib.parse import parse_qsl

from standin_common import Response, json_response, multipart_parts

NOT_FOUND = {"detail": "Not Found"}
METHOD_NOT_ALLOWED = {"detail": "Method Not Allowed"}


class Part:
    """A form field: its text, or for a file part its bytes and filename."""

    def __init__(self, value, filename=None):
        self.value = value
        self.filename = filename


def form(req):
    """The request's form fields (name -> Part), as starlette's Request.form() reads them: multipart or
    urlencoded; any other content type gives no fields (so every required field is "missing")."""
    ctype = req.header("Content-Type") or ""
    fields = {}
    if ctype.startswith("application/x-www-form-urlencoded"):
        for k, v in parse_qsl(req.body.decode("latin-1"), keep_blank_values=True):
            fields[k] = Part(v)
    else:
        for name, filename, data in multipart_parts(req):
            if name is None:
                continue
            fields[name] = Part(data, filename) if filename is not None else Part(data.decode("utf-8", "replace"))
    return fields


def missing(where, name=None):
    return {"type": "missing", "loc": [where] + ([name] if name else []), "msg": "Field required", "input": None}


def int_field(where, name, raw, gt=None):
    """Pydantic's lax int of a string, and its `gt` constraint: (value, error)."""
    try:
        value = int(raw.strip())
    except ValueError:
        return None, {
            "type": "int_parsing",
            "loc": [where, name],
            "msg": "Input should be a valid integer, unable to parse string as an integer",
            "input": raw,
        }
    if gt is not None and not value > gt:
        return None, {
            "type": "greater_than",
            "loc": [where, name],
            "msg": f"Input should be greater than {gt}",
            "input": raw,
            "ctx": {"gt": gt},
        }
    return value, None


def file_field(fields, name):
    """An UploadFile parameter: (Part, error)."""
    part = fields.get(name)
    if part is None:
        return None, missing("body", name)
    if part.filename is None:
        return None, {
            "type": "value_error",
            "loc": ["body", name],
            "msg": "Value error, Expected UploadFile, received: <class 'str'>",
            "input": part.value,
            "ctx": {"error": {}},
        }
    return part, None


def json_body(req):
    """A JSON body parameter: (value, error)."""
    if not req.body:
        return None, missing("body")
    try:
        return json.loads(req.body), None
    except ValueError as e:
        return None, {
            "type": "json_invalid",
            "loc": ["body", getattr(e, "pos", 0)],
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": getattr(e, "msg", str(e))},
        }


def unprocessable(errors):
    return json_response(422, {"detail": errors})


def detail(status, text):
    """An HTTPException(status_code, detail) as FastAPI renders it."""
    return json_response(status, {"detail": text})


def server_error():
    """Starlette's ServerErrorMiddleware answer to an unhandled exception."""
    return Response(500, "Internal Server Error", "text/plain; charset=utf-8")
