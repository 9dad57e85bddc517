#!/usr/bin/env python3
"""Lambda function binaries side by side: ours against any other, interleaved in one run.

For each function: stripped size; start-up (exec to its first poll of the Runtime API); warm
latency per invocation (event handed over to answer received); instructions per warm invocation
(valgrind's callgrind, repeatable on a noisy machine); peak resident memory after the warm
invocations. Every round measures each function once, in an order that rotates, so a machine
that slows down or speeds up mid-run weighs on all of them alike; the figures are medians.

Usage (as root: see "Isolation"):
  bench/side_by_side.py --function LABEL BINARY EVENT_JSON --item TABLE ITEM_FILE
                        [--function ... --item ...] [--rounds 10] [--invocations 500]
                        [--no-callgrind]

  --function  a label, the function's binary and the event it is invoked with
  --item      what the stub DynamoDB answers to every read of TABLE (GetItem, and BatchGetItem for
              each table it names): a file holding an item
              in DynamoDB's JSON ({"id": {"S": "..."}, ...}; bench/side-by-side/ has ours and the
              peer's). Each function reads its TABLE from TABLE_NAME, set to the table named by the
              --item at the same position.

Write functions are compared the same way: the stub accepts every PutItem and TransactWriteItems
and keeps nothing, so each invocation of, say, create-order (a BatchGetItem of its product and
idempotency key, then one transaction) meets the same table and answers 201 every time.

The backend: every function's calls are answered by one stub DynamoDB, the same code path and
answer time for all, so the comparison is of the functions' own work. The stub speaks DynamoDB's
JSON 1.0 protocol over HTTPS on 127.0.0.1:443.

Isolation: the script runs itself again in a network and mount namespace of its own (`unshare
--net --mount`, which needs root), where only loopback exists and /etc/hosts maps DynamoDB's
us-east-1 endpoint to 127.0.0.1. So a function whose SDK cannot be pointed at another endpoint
(the peer's SDK predates AWS_ENDPOINT_URL) reaches the stub exactly as it would reach DynamoDB,
TLS included, and no packet can leave the machine. The stub's certificate is signed by a CA made
for the run (openssl), which each function gets as SSL_CERT_FILE, its one root certificate, as
the template gives ours the runtime's one bundle file.
"""
import argparse
import http.server
import json
import os
import socketserver
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lambda_runtime  # noqa: E402  (the Runtime API this script shares with lambda_runtime.py)

REGION = "us-east-1"
ENDPOINT_HOST = f"dynamodb.{REGION}.amazonaws.com"
INSIDE = "ORDERLY_SIDE_BY_SIDE_INSIDE"
# Invocations under callgrind: the difference between two runs is the warm invocations' alone.
CALLGRIND_FEW, CALLGRIND_MANY = 20, 220


def make_certificates(directory):
    """A CA, and the stub's certificate for DynamoDB's endpoint signed by it; returns the paths."""
    ca_key, ca_cert = f"{directory}/ca.key", f"{directory}/ca.pem"
    key, csr, cert, ext = (f"{directory}/stub.{suffix}" for suffix in ("key", "csr", "pem", "ext"))
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "check": True}
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=side-by-side bench CA", "-keyout", ca_key, "-out", ca_cert,
                    "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign"], **quiet)
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={ENDPOINT_HOST}",
                    "-keyout", key, "-out", csr], **quiet)
    with open(ext, "w") as extensions:
        extensions.write(f"subjectAltName=DNS:{ENDPOINT_HOST}\nbasicConstraints=CA:FALSE\n"
                         "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key,
                    "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", cert], **quiet)
    return ca_cert, cert, key


def start_stub(items, cert, key):
    """DynamoDB on 127.0.0.1:443 that answers GetItem and BatchGetItem on each table with its item,
    and accepts every PutItem and TransactWriteItems (writing nothing: every invocation of a write
    function meets the same table)."""

    class Handler(lambda_runtime.QuietHandler):
        def do_POST(self):
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
            operation = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
            table = request.get("TableName")
            if operation == "GetItem" and table in items:
                self.answer(200, {"Item": items[table]})
            elif operation == "BatchGetItem" and set(request.get("RequestItems", {})) <= set(items):
                self.answer(200, {"Responses": {name: [items[name]] for name in request["RequestItems"]},
                                  "UnprocessedKeys": {}})
            elif operation in ("PutItem", "TransactWriteItems"):
                self.answer(200, {})
            else:
                self.answer(400, {"__type": "com.amazon.coral.validate#ValidationException",
                                  "message": f"the stub answers reads of {sorted(items)} and writes only, "
                                             f"not {operation} on {table}"})

        def answer(self, status, document):
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("x-amzn-RequestId", "side-by-side-stub")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        connections = 0  # accepted so far: a warm function reuses one

        def get_request(self):
            accepted = super().get_request()
            Server.connections += 1
            return accepted

    server = Server(("127.0.0.1", 443), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def environment(api_port, table, ca_cert):
    env = lambda_runtime.environment(api_port)
    for name in list(env):
        # Only what Lambda would set: no endpoint override, no certificate directory.
        if name.startswith("AWS_ENDPOINT_URL") or name in ("SSL_CERT_DIR", "TABLE_NAME"):
            env.pop(name)
    env.update({
        "TABLE_NAME": table,
        "SSL_CERT_FILE": ca_cert,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "side-by-side",
        "AWS_SECRET_ACCESS_KEY": "side-by-side",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
    })
    return env


def start_up(function, ca_cert):
    return lambda_runtime.start_up(function["binary"], function["event"],
                                   environment_for=lambda port: environment(port, function["table"], ca_cert))


def warm(function, invocations, ca_cert):
    """Latencies of `invocations` warm invocations (after the first, cold one), peak RSS, and CPU
    seconds per warm invocation."""
    peak, _, statuses, _, latencies, warm_cpu = lambda_runtime.warm_memory(
        function["binary"], function["event"], invocations + 1,
        environment_for=lambda port: environment(port, function["table"], ca_cert))
    if len(statuses) != 1 or not 200 <= next(iter(statuses)) < 300:
        raise SystemExit(f"{function['label']} answered {statuses}, not one success every time")
    return latencies[1:], peak, warm_cpu / invocations


def invoke(api, n, label):
    api.pending.put(f"req-{n}")
    path, body, _ = api.answered.get(timeout=120)
    status = json.loads(body).get("statusCode") if path.endswith("/response") else None
    if not (isinstance(status, int) and 200 <= status < 300):
        raise SystemExit(f"{label}: invocation {n} answered {path} {body[:500]!r}")


def instructions(function, invocations, ca_cert, directory):
    """Instructions the process executes over `invocations` invocations, start-up included."""
    api = lambda_runtime.RuntimeApi(function["event"])
    out = f"{directory}/callgrind.{function['label']}.{invocations}"
    process = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                                function["binary"]],
                               env=environment(api.port, function["table"], ca_cert),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for n in range(invocations):
        invoke(api, n, function["label"])
    # Ask it to stop as Lambda does (SIGTERM), so callgrind writes its totals.
    process.terminate()
    process.wait(timeout=120)
    api.close()
    with open(out) as profile:
        for line in profile:
            if line.startswith("totals:") or line.startswith("summary:"):
                return int(line.split()[1])
    raise SystemExit(f"{function['label']}: no totals in {out}")


def run(args):
    functions = [{"label": label, "binary": binary, "event": open(event, "rb").read(), "table": table}
                 for (label, binary, event), (table, _) in zip(args.function, args.item)]
    items = {table: json.load(open(item)) for table, item in args.item}
    directory = tempfile.mkdtemp(prefix="side-by-side.")
    ca_cert, cert, key = make_certificates(directory)
    stub = start_stub(items, cert, key)
    results = {f["label"]: {"start": [], "latency": [], "cpu": [], "peak": [], "instructions": [], "connections": []}
               for f in functions}

    for round_number in range(args.rounds):
        shift = round_number % len(functions)
        for function in functions[shift:] + functions[:shift]:
            result = results[function["label"]]
            result["start"].append(start_up(function, ca_cert) * 1000)
            before = stub.connections
            latencies, peak, cpu = warm(function, args.invocations, ca_cert)
            result["cpu"].append(cpu * 1e6)
            result["connections"].append(stub.connections - before)
            result["latency"].append(statistics.median(latencies) * 1e6)
            result["peak"].append(peak)
        print(f"round {round_number + 1}/{args.rounds} done", file=sys.stderr)
    if not args.no_callgrind:
        for function in functions:
            few = instructions(function, CALLGRIND_FEW, ca_cert, directory)
            many = instructions(function, CALLGRIND_MANY, ca_cert, directory)
            results[function["label"]]["instructions"].append((many - few) / (CALLGRIND_MANY - CALLGRIND_FEW))

    print(f"{args.rounds} interleaved rounds; each: a start-up, then {args.invocations} warm invocations "
          f"(median latency per round); callgrind: ({CALLGRIND_MANY} - {CALLGRIND_FEW} invocations) / "
          f"{CALLGRIND_MANY - CALLGRIND_FEW}")
    print("| function | binary size | start-up (median ms) | warm latency (median of round medians, µs) "
          "| CPU per warm invocation (median, µs) | instructions per warm invocation (callgrind) | peak RSS (MiB) "
          "| connections to DynamoDB per run (most) |")
    print("|---|---|---|---|---|---|---|---|")
    for function in functions:
        result = results[function["label"]]
        instructions_figure = (f"{result['instructions'][0]:,.0f}" if result["instructions"] else "not measured")
        print(f"| {function['label']} | {os.path.getsize(function['binary']):,} B "
              f"| {statistics.median(result['start']):.2f} | {statistics.median(result['latency']):.0f} "
              f"| {statistics.median(result['cpu']):.1f} "
              f"| {instructions_figure} | {statistics.median(result['peak']):.1f} "
              f"| {max(result['connections'])} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--function", nargs=3, action="append", required=True,
                        metavar=("LABEL", "BINARY", "EVENT_JSON"))
    parser.add_argument("--item", nargs=2, action="append", required=True, metavar=("TABLE", "ITEM_FILE"))
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--invocations", type=int, default=500)
    parser.add_argument("--no-callgrind", action="store_true")
    args = parser.parse_args()
    if len(args.function) != len(args.item):
        parser.error("one --item for each --function, in the same order")
    if os.environ.get(INSIDE) != "1":
        # Into a namespace of our own: only loopback, and DynamoDB's endpoint at 127.0.0.1.
        os.execvp("unshare", ["unshare", "--net", "--mount", "--fork", "env", f"{INSIDE}=1",
                              sys.executable, *sys.argv])
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    hosts = tempfile.NamedTemporaryFile("w", suffix=".hosts", delete=False)
    hosts.write(f"127.0.0.1 localhost {ENDPOINT_HOST}\n")
    hosts.close()
    subprocess.run(["mount", "--bind", hosts.name, "/etc/hosts"], check=True)
    run(args)


if __name__ == "__main__":
    main()
