#!/usr/bin/env python3
"""The local server's asynchronous half, timed: how soon a buyer is told of an order event, and how
soon an unpaid order past its deadline is expired with its stock back.

Starts `orderly serve` (ORDERLY_BIN, default target/release/orderly) on a free 127.0.0.1 port with
a fresh data dir and the given ORDER_TTL_SECONDS, then:

- notification latency: places N orders one after another and, for each, polls the buyer's
  notifications every 5 ms from the moment the 201 arrives until its `order_placed` is there;
- expiry latency: places M orders one at a time, each at a random moment, and times from each
  order's `expires_at` until the sweep has given its stock back, and until the buyer's
  `order_expired` notification is listed.

The README promises notifications "within a second" and expiry "within a few seconds" of the
deadline (with the default relay interval of 200 ms and sweep interval of 2 s); this measures both.

Usage: bench/lifecycle.py [--orders 50] [--expiries 10] [--ttl 2]
"""
import argparse
import datetime
import json
import os
import random
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, method, path, token=None, body=None):
    request = urllib.request.Request(base + path, method=method,
                                     data=None if body is None else json.dumps(body).encode())
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.status, json.loads(answer.read() or b"null")


def told(base, buyer, order_id, kind):
    """Whether the buyer's newest notifications include `kind` for the order."""
    _, page = call(base, "GET", "/v1/me/notifications?limit=100", buyer)
    return any(n.get("order_id") == order_id and n.get("kind") == kind for n in page["items"])


def wait_until(done, since, clock, limit, interval, failure):
    """Polls `done` every `interval` seconds; the time from `since` (on `clock`) until it holds."""
    while not done():
        if clock() - since > limit:
            raise SystemExit(failure)
        time.sleep(interval)
    return clock() - since


def percentiles(samples):
    ordered = sorted(samples)
    def at(q):
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
    return (f"median {statistics.median(ordered) * 1000:.0f} ms, p90 {at(0.9) * 1000:.0f} ms, "
            f"max {ordered[-1] * 1000:.0f} ms ({len(ordered)} samples)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=50)
    parser.add_argument("--expiries", type=int, default=10)
    parser.add_argument("--ttl", type=int, default=2, help="ORDER_TTL_SECONDS for the run")
    args = parser.parse_args()
    binary = os.environ.get("ORDERLY_BIN", os.path.join(ROOT, "target", "release", "orderly"))
    data = tempfile.mkdtemp(prefix="orderly-lifecycle.")
    port = free_port()
    # One buyer places every order: the reservation limit is set out of the way, as bench/load does.
    env = {**os.environ, "ORDER_TTL_SECONDS": str(args.ttl), "ORDERLY_DATA_DIR": data,
           "MAX_UNPAID_ORDERS_PER_USER": "1000000", "MAX_RESERVED_UNITS_PER_USER": "1000000"}
    server = subprocess.Popen([binary, "serve", "--addr", f"127.0.0.1:{port}"], env=env,
                              stdout=open(os.path.join(data, "server.log"), "w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                call(base, "GET", "/v1/health")
                break
            except OSError:
                time.sleep(0.05)
        token = lambda *extra: subprocess.run([binary, "token", *extra], env=env, check=True,
                                              capture_output=True, text=True).stdout.strip()
        admin, buyer = token("--sub", "lifecycle-admin", "--admin"), token("--sub", "lifecycle-buyer")
        _, product = call(base, "POST", "/v1/products", admin,
                          {"sku": "LIFECYCLE-1", "name": "Timed tea", "price_cents": 100, "stock": 1000})
        order_body = {"items": [{"product_id": product["id"], "quantity": 1}]}

        placed_told = []
        for _ in range(args.orders):
            _, order = call(base, "POST", "/v1/orders", buyer, order_body)
            placed_told.append(wait_until(lambda: told(base, buyer, order["id"], "order_placed"),
                                          time.monotonic(), time.monotonic, 30, 0.005,
                                          f"order {order['id']}: no notification after 30 s"))
        print(f"order placed -> its order_placed notification listed: {percentiles(placed_told)}")

        # One at a time, each placed at a random moment, so the deadlines fall anywhere in the
        # sweep's interval. A pending order past its deadline already reads `expired` (it is
        # rendered so); what is timed is the sweep's own work: the stock back, then the buyer told.
        restocked, expiry_told = [], []
        # First the notification orders expire, so that no other order's stock comes back meanwhile.
        while call(base, "GET", f"/v1/products/{product['id']}")[1]["stock"] != 1000:
            time.sleep(0.1)
        random.seed(20261129)
        for _ in range(args.expiries):
            time.sleep(random.uniform(0, 2.5))
            _, before = call(base, "GET", f"/v1/products/{product['id']}")
            _, order = call(base, "POST", "/v1/orders", buyer, order_body)
            deadline = datetime.datetime.fromisoformat(order["expires_at"]).timestamp()
            late = f"order {order['id']}: not expired a minute after its deadline"
            stock = lambda: call(base, "GET", f"/v1/products/{product['id']}")[1]["stock"]
            restocked.append(wait_until(lambda: stock() == before["stock"], deadline, time.time, 60, 0.02, late))
            expiry_told.append(wait_until(lambda: told(base, buyer, order["id"], "order_expired"),
                                          deadline, time.time, 60, 0.02, late))
        print(f"deadline -> the order's stock back: {percentiles(restocked)}")
        print(f"deadline -> its order_expired notification listed: {percentiles(expiry_told)}")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
