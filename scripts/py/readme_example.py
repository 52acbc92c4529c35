"""The original README's k8s-job example, run against the local worker: prints the session, its
status and its log."""
import asyncio
import os

from hypha_rpc import connect_to_server


async def main():
    server = await connect_to_server({"server_url": os.environ["HYPHA_SERVER_URL"], "token": os.environ["HYPHA_TOKEN"]})
    k8s_worker = await server.get_service(os.environ["WORKER_SERVICE"])
    session = await k8s_worker.start({
        "manifest": {
            "type": "k8s-job",
            "image": "python:3.11",
            "command": ["python", "-c", "print('Hello from K8s Job!')"],
        },
        "progress_callback": lambda m: print("  progress:", m["type"], m["message"]),
    })
    print("session:", session)
    for _ in range(40):
        info = await k8s_worker.get_session_info(session)
        if info["status"] in ("completed", "failed"):
            break
        await asyncio.sleep(0.5)
    print("status:", info["status"], "job:", info["job_name"], "pod:", info["pod_name"])
    logs = await k8s_worker.get_logs(session)
    print("logs:")
    for item in logs["items"]:
        print("  [%s] %s" % (item["type"], item["content"]))
    await server.disconnect()


asyncio.run(main())
