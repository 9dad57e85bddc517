#!/usr/bin/env python3
"""Start-up time and warm memory of a Lambda function binary, against a local Runtime API.

A minimal Lambda Runtime API (the 2018-06-01 interface a function polls) listens on 127.0.0.1.
Start-up: the time from exec to the function's first `GET .../invocation/next`, i.e. everything a
cold start runs before it can take an event: configuration, the DynamoDB client, the runtime.
Memory: the function's peak resident set (VmHWM) after N warm invocations of a sample event.

Usage: bench/lambda_runtime.py BINARY EVENT_JSON [--starts 20] [--invocations 2000] [--xray]
                               [--ssl-cert-file PATH]
The function's environment (TABLE_NAME, AWS_ENDPOINT_URL, ...) is inherited from the caller.
With --xray the function is traced as under `Tracing: Active`: AWS_XRAY_DAEMON_ADDRESS names a UDP
socket of this script on 127.0.0.1 (the daemon), every invocation's trace header is sampled, and
the datagrams received are counted. The function gets no SSL_CERT_DIR or SSL_CERT_FILE from the
caller's environment (Lambda sets none); --ssl-cert-file gives it the one the template sets.
"""
import argparse
import http.server
import json
import os
import queue
import socket
import socketserver
import statistics
import subprocess
import threading
import time

PREFIX = "/2018-06-01/runtime"
CERT_FILE = None  # --ssl-cert-file
UNSAMPLED = "Root=1-00000000-000000000000000000000000"
SAMPLED = "Root=1-6948c0de-5b1c0a3e8d2f4a6b7c9e0d1f;Parent=53995c3f42cd8ad8;Sampled=1"


class XrayDaemon:
    """A UDP socket on 127.0.0.1 that counts the datagrams a traced function sends it."""

    def __init__(self):
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.address = "127.0.0.1:%d" % self.socket.getsockname()[1]
        self.datagrams = 0
        threading.Thread(target=self.drain, daemon=True).start()

    def drain(self):
        while True:
            self.socket.recv(65536)
            self.datagrams += 1


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """A loopback HTTP/1.1 server's handler that logs nothing and answers without Nagle's delay:
    headers and body go out as two writes, and with Nagle's algorithm the second waits for the
    client's delayed ACK, adding 40 ms to every answer."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass


class RuntimeApi:
    def __init__(self, event: bytes, trace_header: str = UNSAMPLED):
        self.event = event
        self.trace_header = trace_header
        self.first_poll = threading.Event()
        self.first_poll_at = None
        self.pending = queue.Queue()
        self.answered = queue.Queue()
        self.handed_at = {}  # request id -> when its event was handed over (perf_counter)
        api = self

        class Handler(QuietHandler):
            def handle(self):
                # The benchmark kills the function while its next poll is open; that is expected.
                try:
                    super().handle()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self):
                if self.path != f"{PREFIX}/invocation/next":
                    return self.reply(404, b"{}")
                if not api.first_poll.is_set():
                    api.first_poll_at = time.perf_counter()
                    api.first_poll.set()
                request_id = api.pending.get()
                if request_id is None:  # shutting down: leave the poll hanging up
                    return self.reply(410, b"{}")
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 10_000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:bench")
                self.send_header("Lambda-Runtime-Trace-Id", api.trace_header)
                self.send_header("Content-Length", str(len(api.event)))
                self.end_headers()
                self.wfile.write(api.event)
                self.wfile.flush()
                api.handed_at[request_id] = time.perf_counter()

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                answered_at = time.perf_counter()
                # .../invocation/<request id>/response: the time from handing its event over.
                parts = self.path.split("/")
                handed = api.handed_at.pop(parts[-2], None) if len(parts) >= 2 else None
                latency = answered_at - handed if handed is not None else None
                api.answered.put((self.path, body, latency))
                self.reply(202, b"{}")

            def reply(self, status, body):
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.pending.put(None)
        self.server.shutdown()


def environment(port, xray=None):
    env = dict(os.environ)
    # As on Lambda: no X-Ray daemon unless asked for, and no certificate variables but the one the
    # template sets (this machine's own shell sets SSL_CERT_DIR and SSL_CERT_FILE).
    for name in ("AWS_XRAY_DAEMON_ADDRESS", "SSL_CERT_DIR", "SSL_CERT_FILE"):
        env.pop(name, None)
    if CERT_FILE:
        env["SSL_CERT_FILE"] = CERT_FILE
    if xray is not None:
        env["AWS_XRAY_DAEMON_ADDRESS"] = xray.address
    env.update({
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bench",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_EC2_METADATA_DISABLED": "true",
        "RUST_LOG": "warn",
    })
    return env


def start_up(binary, event, xray=None, environment_for=None):
    """Seconds from exec to the first poll. `environment_for(port)`, when given, makes the
    function's environment instead of `environment`."""
    api = RuntimeApi(event)
    env = environment_for(api.port) if environment_for else environment(api.port, xray)
    started = time.perf_counter()
    process = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if not api.first_poll.wait(30):
        process.kill()
        raise SystemExit(f"{binary} never polled for an event: {process.stderr.read().decode()[-2000:]}")
    elapsed = api.first_poll_at - started
    process.kill()
    process.wait()
    api.close()
    return elapsed


def on_cpu_seconds(pid):
    """Time the process's threads have run on a CPU (the scheduler's own count, in ns)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as schedstat:
                total += int(schedstat.read().split()[0])
        except FileNotFoundError:  # a thread that ended meanwhile
            pass
    return total / 1e9


def warm_memory(binary, event, invocations, xray=None, environment_for=None):
    """Peak and current RSS (MiB) after `invocations` invocations, the answers' statuses, the
    seconds they took, each one's latency (event handed over to answer received; the first is
    the cold one), and the CPU seconds the process used for all but the first."""
    api = RuntimeApi(event, SAMPLED if xray else UNSAMPLED)
    env = environment_for(api.port) if environment_for else environment(api.port, xray)
    process = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    statuses = {}
    latencies = []
    started = time.perf_counter()
    for n in range(invocations):
        api.pending.put(f"req-{n}")
        path, body, latency = api.answered.get(timeout=30)
        if not path.endswith("/response"):
            raise SystemExit(f"invocation {n} failed: {path} {body[:500]!r}")
        status = json.loads(body).get("statusCode")
        statuses[status] = statuses.get(status, 0) + 1
        latencies.append(latency)
        if n == 0:
            cpu_after_first = on_cpu_seconds(process.pid)
    elapsed = time.perf_counter() - started
    warm_cpu = on_cpu_seconds(process.pid) - cpu_after_first
    with open(f"/proc/{process.pid}/status") as status_file:
        fields = dict(line.split(":", 1) for line in status_file if ":" in line)
    process.kill()
    process.wait()
    api.close()
    return (int(fields["VmHWM"].split()[0]) / 1024, int(fields["VmRSS"].split()[0]) / 1024, statuses, elapsed,
            latencies, warm_cpu)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("event")
    parser.add_argument("--starts", type=int, default=20)
    parser.add_argument("--invocations", type=int, default=2000)
    parser.add_argument("--xray", action="store_true", help="traced, every invocation sampled")
    parser.add_argument("--ssl-cert-file", help="SSL_CERT_FILE for the function, as the template sets it")
    args = parser.parse_args()
    global CERT_FILE
    CERT_FILE = args.ssl_cert_file
    with open(args.event, "rb") as event_file:
        event = event_file.read()
    xray = XrayDaemon() if args.xray else None
    starts = sorted(start_up(args.binary, event, xray) * 1000 for _ in range(args.starts))
    print(f"start-up to first poll over {len(starts)} runs: median {statistics.median(starts):.1f} ms, "
          f"p90 {starts[int(len(starts) * 0.9) - 1]:.1f} ms, max {starts[-1]:.1f} ms")
    peak, rss, statuses, elapsed, _, _ = warm_memory(args.binary, event, args.invocations, xray)
    print(f"after {args.invocations} warm invocations ({args.invocations / elapsed:.0f}/s, statuses {statuses}): "
          f"peak RSS {peak:.1f} MiB, current RSS {rss:.1f} MiB")
    if xray:
        time.sleep(0.2)  # the last datagram, on its way
        print(f"X-Ray datagrams received: {xray.datagrams} ({xray.datagrams / args.invocations:.2f} per invocation)")


if __name__ == "__main__":
    main()
