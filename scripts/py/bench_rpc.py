"""The Python reference client's side of the RPC benchmark (same options as the Java `bench`)."""
import argparse
import asyncio
import gc
import json
import sys
import time

from hypha_rpc import connect_to_server


async def serve(args):
    server = await connect_to_server({"server_url": args.server_url, "token": args.token, "method_timeout": 120})
    info = await server.register_service({"id": args.service_id, "config": {"visibility": "public"},
                                          "echo": lambda x: x})
    print(json.dumps({"ready": True, "service": info["id"]}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await server.disconnect()


async def bench(args):
    server = await connect_to_server({"server_url": args.server_url, "token": args.token, "method_timeout": 120})
    svc = await server.get_service(args.service)
    data = b"x" * args.payload

    async def run(calls, latencies):
        counter = iter(range(calls))

        async def worker():
            for i in counter:
                t0 = time.perf_counter()
                await svc.echo(data)
                latencies[i] = time.perf_counter() - t0

        await asyncio.gather(*[worker() for _ in range(args.concurrency)])

    await run(min(args.warmup, args.calls), [0.0] * args.calls)
    latencies = [0.0] * args.calls
    gc_start = sum(g["collections"] for g in gc.get_stats())
    cpu_start = time.process_time()
    start = time.perf_counter()
    await run(args.calls, latencies)
    seconds = time.perf_counter() - start
    cpu_ms_per_call = (time.process_time() - cpu_start) * 1000 / args.calls
    gc_per_1000 = (sum(g["collections"] for g in gc.get_stats()) - gc_start) * 1000 / args.calls
    latencies.sort()
    n = args.calls
    print(json.dumps({"client": "python", "calls": n, "concurrency": args.concurrency, "payload": args.payload,
                      "seconds": seconds, "calls_per_s": n / seconds, "cpu_ms_per_call": cpu_ms_per_call,
                      "gc_per_1000_calls": gc_per_1000,
                      "p50_ms": latencies[n // 2] * 1000,
                      "p99_ms": latencies[min(n - 1, -(-n * 99 // 100) - 1)] * 1000}), flush=True)
    await server.disconnect()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=["serve-echo", "bench"])
    p.add_argument("--server-url", required=True)
    p.add_argument("--token")
    p.add_argument("--service-id", default="echo")
    p.add_argument("--service")
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--payload", type=int, default=16)
    p.add_argument("--warmup", type=int, default=500)
    # the Java client's pace, which this client does not have
    p.add_argument("--send-rate", type=int)
    args = p.parse_args()
    asyncio.run(serve(args) if args.command == "serve-echo" else bench(args))


if __name__ == "__main__":
    main()
