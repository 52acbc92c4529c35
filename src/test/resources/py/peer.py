"""A Python hypha-rpc peer driven by a test over stdin/stdout.

Each stdin line is {"id": n, "code": "<body of an async function>"}; the body sees `server`
(the connected hypha-rpc client), `state` (a dict kept between commands) and the modules imported
here, and its return value comes back as {"id": n, "ok": true, "result": ...}. Commands run
concurrently, so a test can start a long call and go on.
"""
import asyncio
import base64
import json
import math
import sys
import time
import traceback

import numpy as np
from hypha_rpc import connect_to_server


def to_json(value):
    if hasattr(value, "toDict"):
        # hypha-rpc's ObjectProxy: its keys shadow dict methods (a key "items" hides .items())
        value = value.toDict()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"__bytes__": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return {"__float__": repr(value)}
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in dict.items(value)}
    if isinstance(value, (list, tuple, set)):
        return [to_json(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    try:
        return to_json(dict(value))
    except Exception:
        return repr(value)


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def run(request, env):
    name = "__cmd_%d" % request["id"]
    body = "\n".join("    " + line for line in request["code"].splitlines()) or "    pass"
    try:
        exec("async def %s():\n%s\n" % (name, body), env)
        result = await env[name]()
        emit({"id": request["id"], "ok": True, "result": to_json(result)})
    except BaseException as e:  # report everything, the test decides
        emit({"id": request["id"], "ok": False, "error": "%s: %s" % (type(e).__name__, e),
              "trace": traceback.format_exc()})
    finally:
        env.pop(name, None)


async def main():
    config = json.loads(sys.argv[1])
    server = await connect_to_server(config)
    env = {"server": server, "state": {}, "asyncio": asyncio, "math": math, "np": np, "time": time,
           "json": json, "config": config}
    emit({"ready": True, "workspace": server.config["workspace"], "client_id": server.config["client_id"]})
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    tasks = set()
    while True:
        line = await reader.readline()
        if not line:
            break
        task = asyncio.ensure_future(run(json.loads(line), env))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    try:
        await server.disconnect()
    except Exception:
        pass


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except BaseException as e:
        emit({"fatal": "%s: %s" % (type(e).__name__, e), "trace": traceback.format_exc()})
        raise
