"""A STAND-IN for the claude-agent image (oeway/deno-claude-code), which cannot be pulled on the
test node. It follows that job type's environment contract and nothing more: it connects to
HYPHA_SERVER_URL with HYPHA_TOKEN (the token the Job gives it), joins HYPHA_WORKSPACE and registers
SERVICE_ID with SERVICE_VISIBILITY, then serves until the pod is stopped. It runs no model."""
import asyncio
import os
import signal
import socket

from hypha_rpc import connect_to_server


async def main():
    env = os.environ
    config = {"server_url": env["HYPHA_SERVER_URL"], "token": env["HYPHA_TOKEN"]}
    if env.get("HYPHA_WORKSPACE"):
        config["workspace"] = env["HYPHA_WORKSPACE"]
    if env.get("HYPHA_CLIENT_ID"):
        config["client_id"] = env["HYPHA_CLIENT_ID"]
    server = await connect_to_server(config)
    base = env.get("AGENT_BASE_DIRECTORY", "/workspace")

    def hello(name="world"):
        return "Hello %s from the claude-agent stand-in in pod %s" % (name, socket.gethostname())

    def environment():
        probe = os.path.join(base, ".write-probe")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
        return {
            "workspace": server.config.workspace,
            "client_id": server.config.client_id,
            "service_id": env["SERVICE_ID"],
            "visibility": env["SERVICE_VISIBILITY"],
            "uid": os.getuid(),
            "base_directory_writable": True,
            "anthropic_api_key_set": bool(env.get("ANTHROPIC_API_KEY")),
        }

    info = await server.register_service({
        "id": env["SERVICE_ID"],
        "name": "claude-agent stand-in",
        "config": {"visibility": env.get("SERVICE_VISIBILITY", "protected")},
        "hello": hello,
        "environment": environment,
    })
    print("registered %s" % info["id"], flush=True)
    # As PID 1 the process would ignore SIGTERM without a handler: leave Hypha and exit when stopped.
    stopped = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
    await stopped.wait()
    await server.disconnect()


asyncio.run(main())
