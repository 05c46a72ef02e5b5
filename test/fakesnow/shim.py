"""fakesnow as a local Snowflake server that the Node driver (snowflake-sdk) can talk to.

fakesnow (https://pypi.org/project/fakesnow/) translates Snowflake SQL to DuckDB and speaks Snowflake's
HTTP protocol, but it answers SELECTs with an Arrow rowset (`rowsetBase64`) and no `returned` field, while
the Node driver reads only the JSON `rowset` and waits forever without `returned`. This shim reuses
fakesnow's routes and rewrites each query response the way Snowflake itself answers a JSON-format query
(see ../../../shared/docs/snowflake.md):

- every cell a string or null: FIXED as decimal text, REAL as a number's text, BOOLEAN as "1"/"0", DATE as
  days since the epoch, TIME as seconds with fraction, TIMESTAMP_NTZ/LTZ as "epoch.fraction",
  TIMESTAMP_TZ as "epoch.fraction offset" (offset = minutes east of UTC + 1440), BINARY as upper-case hex,
  VARIANT/OBJECT/ARRAY as JSON text;
- `returned`, `total`, `chunks: []`, `queryResultFormat: "json"`;
- the session parameters the driver reads (TIMEZONE, JS_TREAT_INTEGER_AS_BIGINT, output formats).

fakesnow accepts any credentials. So that tests can exercise authentication through the real driver,
the shim keeps a registry of test users (`POST /shim/v1/users`): a registered user must log in with its
password, or with a key-pair JWT signed by its registered public key, and is refused with Snowflake's
own error codes otherwise. Unregistered users are let in as fakesnow does. `POST /shim/v1/faults` makes
the next N queries of a user fail with a given Snowflake error (a suspended warehouse, say), which no
local server can produce by itself. `GET /shim/v1/stats` counts logins per user and shows the session
parameters each user set. `ALTER SESSION SET` (not implemented by fakesnow) is kept per session and
echoed with later results, as Snowflake does.

Usage: python shim.py [--host 127.0.0.1] [--port 0]
Prints `fakesnow-shim listening on http://HOST:PORT` once it accepts connections.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import json
import re
import socket
import sys
import threading
import time
from decimal import Decimal
from typing import Any

import pyarrow as pa
import uvicorn
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import fakesnow.server as fs_server

# Session parameters Snowflake returns with every query result, with Snowflake's defaults; the driver
# reads them to convert values (and fails on BINARY without BINARY_OUTPUT_FORMAT).
SESSION_PARAMETERS: list[dict[str, Any]] = [
    {"name": "TIMEZONE", "value": "Etc/UTC"},
    {"name": "JS_TREAT_INTEGER_AS_BIGINT", "value": False},
    {"name": "BINARY_OUTPUT_FORMAT", "value": "HEX"},
    {"name": "DATE_OUTPUT_FORMAT", "value": "YYYY-MM-DD"},
    {"name": "TIME_OUTPUT_FORMAT", "value": "HH24:MI:SS"},
    {"name": "TIMESTAMP_OUTPUT_FORMAT", "value": "YYYY-MM-DD HH24:MI:SS.FF3 TZHTZM"},
    {"name": "TIMESTAMP_NTZ_OUTPUT_FORMAT", "value": "YYYY-MM-DD HH24:MI:SS.FF3"},
    {"name": "TIMESTAMP_LTZ_OUTPUT_FORMAT", "value": ""},
    {"name": "TIMESTAMP_TZ_OUTPUT_FORMAT", "value": ""},
]

# name (upper case) -> {"password": str | None, "public_key": PEM str | None}
USERS: dict[str, dict[str, Any]] = {}
# name (upper case) -> list of pending faults {"code", "message", "sqlState", "times"}
FAULTS: dict[str, list[dict[str, Any]]] = {}
# session token -> user name (upper case)
SESSION_USERS: dict[str, str] = {}
# user name (upper case) -> successful logins
LOGINS: dict[str, int] = {}
# session token -> parameters set by ALTER SESSION SET (fakesnow does not implement it)
SESSION_PARAMS: dict[str, dict[str, Any]] = {}
ALTER_SESSION = re.compile(r"^\s*ALTER\s+SESSION\s+SET\s+(.*?);?\s*$", re.I | re.S)
SESSION_ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*('(?:[^']|'')*'|[^\s,]+)")
LOCK = threading.Lock()


# --- values -------------------------------------------------------------------------------------------


def _seconds_text(total: int, digits: int) -> str:
    """`total` units of 10^-digits seconds as Snowflake's "epoch.fraction" decimal text."""
    sign = "-" if total < 0 else ""
    whole, frac = divmod(abs(total), 10**digits)
    return f"{sign}{whole}.{frac:0{digits}d}" if digits else f"{sign}{whole}"


def _cell(value: Any, sf_type: str, arrow_type: pa.DataType) -> str | None:
    if value is None:
        return None
    if sf_type == "fixed":
        if isinstance(value, Decimal):
            return format(value, "f")
        return str(int(value))
    if sf_type == "real":
        return repr(float(value))
    if sf_type == "boolean":
        return "1" if value else "0"
    if sf_type == "date":
        # Arrow date32 arrives as datetime.date
        return str((value - _EPOCH_DATE).days)
    if sf_type == "time":
        # fakesnow sends TIME as int64 nanoseconds since midnight
        return _seconds_text(int(value), 9)
    if sf_type in ("timestamp_ntz", "timestamp_ltz", "timestamp_tz"):
        # fakesnow's struct {epoch: seconds (floored), fraction: nanoseconds[, timezone: offset + 1440]};
        # it builds the struct without a validity mask, so a NULL timestamp is a struct of nulls
        if value.get("epoch") is None:
            return None
        text = _seconds_text(int(value["epoch"]) * 1_000_000_000 + int(value["fraction"]), 9)
        if sf_type == "timestamp_tz":
            return f"{text} {int(value.get('timezone', 1440))}"
        return text
    if sf_type == "binary":
        return bytes(value).hex().upper()
    if sf_type in ("variant", "object", "array"):
        return value if isinstance(value, str) else json.dumps(value)
    return str(value)


_EPOCH_DATE = __import__("datetime").date(1970, 1, 1)


def _json_rowset(data: dict[str, Any]) -> list[list[str | None]]:
    b64 = data.get("rowsetBase64") or ""
    if not b64:
        return []
    table = pa.ipc.open_stream(base64.b64decode(b64)).read_all()
    rowtype = data["rowtype"]
    columns = []
    for i, col in enumerate(table.columns):
        sf_type = rowtype[i]["type"].lower()
        columns.append([_cell(v, sf_type, col.type) for v in col.to_pylist()])
    return [list(row) for row in zip(*columns)] if columns else []


def _parameters(token: str) -> list[dict[str, Any]]:
    with LOCK:
        overrides = dict(SESSION_PARAMS.get(token, {}))
    params = [p if p["name"] not in overrides else {"name": p["name"], "value": overrides.pop(p["name"])} for p in SESSION_PARAMETERS]
    return params + [{"name": k, "value": v} for k, v in overrides.items()]


def _rewrite(data: dict[str, Any], token: str) -> None:
    if data.get("queryResultFormat") == "arrow":
        data["rowset"] = _json_rowset(data)
        data.pop("rowsetBase64", None)
        data["queryResultFormat"] = "json"
    rowset = data.get("rowset") or []
    data["rowset"] = rowset
    data["returned"] = len(rowset)
    data["total"] = len(rowset)
    data["chunks"] = []
    data["parameters"] = _parameters(token)


# --- authentication -----------------------------------------------------------------------------------


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _login_error(code: str, message: str) -> JSONResponse:
    # Snowflake answers a refused login with HTTP 200 and success: false
    return JSONResponse({"data": {"nextAction": "RETRY_LOGIN", "authnMethod": "PASSWORD"}, "code": code, "message": message, "success": False})


def _check_login(data: dict[str, Any]) -> JSONResponse | None:
    user = str(data.get("LOGIN_NAME", "")).upper()
    with LOCK:
        entry = USERS.get(user)
    if entry is None:
        return None
    authenticator = str(data.get("AUTHENTICATOR", "SNOWFLAKE")).upper()
    if authenticator == "SNOWFLAKE_JWT":
        if not entry.get("public_key"):
            return _login_error("390144", "JWT token is invalid.")
        try:
            head, payload, signature = str(data.get("TOKEN", "")).split(".")
            key = serialization.load_pem_public_key(entry["public_key"].encode())
            assert isinstance(key, rsa.RSAPublicKey)
            key.verify(_b64url(signature), f"{head}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
            claims = json.loads(_b64url(payload))
            der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            fingerprint = "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode()
            account = str(data.get("ACCOUNT_NAME", "")).upper()
            if claims.get("sub") != f"{account}.{user}" or claims.get("iss") != f"{account}.{user}.{fingerprint}":
                return _login_error("390144", "JWT token is invalid.")
            exp = claims.get("exp", 0)
            # the Node driver writes iat/exp in milliseconds
            if (exp / 1000 if exp > 1e11 else exp) < time.time():
                return _login_error("390144", "JWT token is invalid.")
        except (ValueError, InvalidSignature, AssertionError):
            return _login_error("390144", "JWT token is invalid.")
        return None
    if entry.get("password") is None or data.get("PASSWORD") != entry["password"]:
        return _login_error("390100", "Incorrect username or password was specified.")
    return None


async def _body_json(request: Request) -> dict[str, Any]:
    body = await request.body()
    if request.headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    return json.loads(body)


async def login_request(request: Request) -> JSONResponse:
    body = await _body_json(request)
    data = body.get("data", {})
    refused = _check_login(data)
    if refused is not None:
        return refused
    response = await fs_server.login_request(request)
    out = json.loads(response.body)
    if out.get("success"):
        token = out["data"]["token"]
        user = str(data.get("LOGIN_NAME", "")).upper()
        with LOCK:
            SESSION_USERS[token] = user
            LOGINS[user] = LOGINS.get(user, 0) + 1
        out["data"]["masterToken"] = token
        out["data"]["sessionId"] = abs(hash(token)) % 10**12
        out["data"]["parameters"] = out["data"].get("parameters", []) + SESSION_PARAMETERS
    return JSONResponse(out, status_code=response.status_code)


# --- queries ------------------------------------------------------------------------------------------


def _token(request: Request) -> str:
    auth = request.headers.get("Authorization") or ""
    return auth[17:-1]


def _pending_fault(request: Request) -> dict[str, Any] | None:
    token = _token(request)
    with LOCK:
        user = SESSION_USERS.get(token)
        faults = FAULTS.get(user or "")
        if not faults:
            return None
        fault = faults[0]
        fault["times"] -= 1
        if fault["times"] <= 0:
            faults.pop(0)
        return fault


async def query_request(request: Request) -> JSONResponse:
    fault = _pending_fault(request)
    if fault is not None:
        code = str(fault["code"])
        return JSONResponse(
            {"data": {"errorCode": code, "sqlState": fault.get("sqlState")}, "code": code, "message": fault["message"], "success": False}
        )
    token = _token(request)
    body = await _body_json(request)
    if m := ALTER_SESSION.match(body.get("sqlText", "")):
        # Snowflake applies session parameters to every later statement of the session; fakesnow does
        # not implement ALTER SESSION, so keep them here and echo them with later results.
        assignments = {k.upper(): v.strip("'").replace("''", "'") for k, v in SESSION_ASSIGNMENT.findall(m.group(1))}
        with LOCK:
            SESSION_PARAMS.setdefault(token, {}).update(assignments)
        data = {
            "rowtype": [{"name": "status", "database": "", "schema": "", "table": "", "nullable": True, "type": "text",
                         "byteLength": 16777216, "length": 16777216, "scale": None, "precision": None, "collation": None}],
            "rowset": [["Statement executed successfully."]],
            "queryId": f"shim-{time.time_ns()}",
            "statementTypeId": 0x4000,  # session control
        }
        _rewrite(data, token)
        return JSONResponse({"data": data, "success": True})
    response = await fs_server.query_request(request)
    out = json.loads(response.body)
    data = out.get("data")
    if out.get("success") and isinstance(data, dict) and "rowtype" in data:
        _rewrite(data, token)
    return JSONResponse(out, status_code=response.status_code)


async def register_user(request: Request) -> JSONResponse:
    """Test hook: {"user", "password"?, "public_key"? (PEM)} -> logins of that user are checked."""
    body = await request.json()
    with LOCK:
        USERS[str(body["user"]).upper()] = {"password": body.get("password"), "public_key": body.get("public_key")}
    return JSONResponse({"success": True})


async def add_fault(request: Request) -> JSONResponse:
    """Test hook: {"user", "code", "message", "sqlState"?, "times"?} -> the user's next queries fail so."""
    body = await request.json()
    fault = {"code": body["code"], "message": body["message"], "sqlState": body.get("sqlState"), "times": int(body.get("times", 1))}
    with LOCK:
        FAULTS.setdefault(str(body["user"]).upper(), []).append(fault)
    return JSONResponse({"success": True})


async def stats(_request: Request) -> JSONResponse:
    """Test hook: successful logins per user, and the sessions fakesnow holds."""
    with LOCK:
        by_user: dict[str, dict[str, Any]] = {}
        for token, params in SESSION_PARAMS.items():
            by_user.setdefault(SESSION_USERS.get(token, ""), {}).update(params)
        return JSONResponse({"logins": dict(LOGINS), "sessions": len(fs_server.sessions), "session_parameters": by_user})


async def telemetry(_request: Request) -> JSONResponse:
    return JSONResponse({"success": True})


routes = [
    Route("/session/v1/login-request", login_request, methods=["POST"]),
    Route("/queries/v1/query-request", query_request, methods=["POST"]),
    Route("/telemetry/send", telemetry, methods=["POST"]),
    Route("/shim/v1/users", register_user, methods=["POST"]),
    Route("/shim/v1/faults", add_fault, methods=["POST"]),
    Route("/shim/v1/stats", stats, methods=["GET"]),
    *[r for r in fs_server.routes if r.path not in ("/session/v1/login-request", "/queries/v1/query-request")],
]

app = Starlette(routes=routes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    host, port = sock.getsockname()[:2]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))

    def announce() -> None:
        while not server.started:
            time.sleep(0.05)
        print(f"fakesnow-shim listening on http://{host}:{port}", flush=True)

    threading.Thread(target=announce, daemon=True).start()
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
