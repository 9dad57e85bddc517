#!/usr/bin/env python3
"""Orderly's deployed shape under SAM's own local emulator, offline.

  scripts/sam_local.py invoke            every function of template.yaml under `sam local invoke`
                                         with its events/ file, each answer checked (scripts/test)
  scripts/sam_local.py deployed-shape    DynamoDB Local, moto (SSM, SQS), the table, the functions
                                         under `sam local start-lambda` and the test gateway in
                                         front of them; prints the base URL once every route
                                         answers, runs until SIGTERM (scripts/deployed-shape)
  scripts/sam_local.py check -- COMMAND...
                                         both, on one build: `invoke`, then COMMAND against the
                                         deployed shape (scripts/test)
  scripts/sam_local.py deployed-shape -- COMMAND...
                                         the same, runs COMMAND against it (ORDERLY_TEST_BASE_URL,
                                         ORDERLY_TEST_DYNAMODB_ENDPOINT, ORDERLY_TEST_TABLE_NAME in
                                         its environment), stops, and exits with COMMAND's status

What it starts, and stops again on every way out (an exception, SIGTERM, Ctrl-C):
  - a Docker daemon of its own (Debian's docker.io), on a socket in a temporary directory, with
    its images kept in .tools/docker (git-ignored), unless one already answers (a developer's
    Docker, used as it is); nothing is pulled from any registry: the base image is made here;
  - DynamoDB Local and moto, on ports the OS picks. Inside a container the host's 127.0.0.1 is the
    container's own: the functions reach them at the Docker bridge's address (172.17.0.1 by
    default). DynamoDB Local listens on every interface (it has no bind option); moto is bound
    to the bridge's address only;
  - SAM itself (`sam local invoke`, or `start-lambda` with warm containers), and the gateway.

The base image stands in for provided.al2023: busybox (for the Dockerfile SAM runs, which needs
/bin/sh, mv and chmod), the shared libraries the built functions link (found with ldd), and the
system's root certificates at the path the template's SSL_CERT_FILE names. The functions are
built by `sam build` itself, with SAM's cargo-lambda builder, for this machine's architecture
(the template's Architecture parameter; arm64, its default, cannot run here) and in debug mode
(SAM_BUILD_MODE=debug): a release build of 21 binaries takes over ten minutes on two cores.

SAM's own behaviour this works around (each seen here):
  - it passes a function only the variables the template declares, and gives every variable it
    cannot resolve (an `!If`, a `!Ref` to a resource) the value "": the values are all given
    with --env-vars;
  - a declared variable set in SAM's own environment overrides the template: SAM runs with a
    clean environment (`sam_environment`);
  - it asks STS who the caller is at every command: pointed at a closed local port;
  - `sam local invoke` exits 0 even when the function crashed: its answer is what is checked.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import io
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools"
SAM_VENV = TOOLS / "sam-venv"
LAMBDA_VENV = TOOLS / "lambda-venv"
DOCKER_DATA = TOOLS / "docker"
BASE_IMAGE = "orderly-sam-base:al2023"
# SAM names the image it builds on the base from the base's repository alone.
RAPID_IMAGE_PREFIX = "orderly-sam-base:rapid-"
CA_BUNDLE_IN_IMAGE = "etc/pki/tls/certs/ca-bundle.crt"
TABLE = "orderly-sam-local"
STACK = "orderly-local"
WEBHOOK_SECRET_PARAMETER = f"/orderly/{STACK}/payment-webhook-secret"
CURSOR_KEY_PARAMETER = f"/orderly/{STACK}/cursor-key"
# Whatever proves the route answers: the health route is public and touches the table.
HEALTH_PATH = "/v1/health"


class Failure(Exception):
    """A step that did not do what it must: the run fails with this message."""


def step(text: str) -> None:
    print(f"\n==> {text}", file=sys.stderr, flush=True)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_until(what: str, ready, seconds: float, process: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise Failure(f"{what}: the process exited ({process.returncode})" + tail(log))
        result = ready()
        if result:
            return result
        time.sleep(0.2)
    raise Failure(f"{what}: not ready within {seconds:.0f} s" + tail(log))


def tail(log: Path | None, lines: int = 40) -> str:
    if log is None or not log.exists():
        return ""
    text = log.read_text(errors="replace").splitlines()[-lines:]
    return f"\n---- {log} (last {lines} lines) ----\n" + "\n".join(text)


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 30):
    """(status, headers, body) of one request; a refused connection is status 0."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as answer:
        return answer.code, dict(answer.headers), answer.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError, socket.timeout):
        return 0, {}, b""


# ---------------------------------------------------------------------------------------------
# Everything started is registered here and stopped in reverse order, whatever happens.
# ---------------------------------------------------------------------------------------------


class Services(contextlib.ExitStack):
    def __init__(self, state: Path):
        super().__init__()
        self.state = state

    def spawn(self, name: str, argv: list[str], env: dict | None = None, stop_signal=signal.SIGTERM):
        log = self.state / f"{name}.log"
        process = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=log.open("wb"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def stop():
            if process.poll() is None:
                process.send_signal(stop_signal)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    print(f"{name} ignored {stop_signal.name} for 30 s: killing it", file=sys.stderr)
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()

        self.callback(stop)
        return process, log


# ---------------------------------------------------------------------------------------------
# Tools: Docker (Debian's docker.io), busybox, SAM and cargo-lambda
# ---------------------------------------------------------------------------------------------


def ensure_tools() -> None:
    missing = [pkg for cmd, pkg in (("dockerd", "docker.io"), ("busybox", "busybox-static")) if not shutil.which(cmd)]
    if missing:
        step(f"installing {' '.join(missing)} (Debian packages)")
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            raise Failure(f"{' '.join(missing)} missing and this needs root and apt-get to install: "
                          f"'apt-get install --no-install-recommends {' '.join(missing)}'")
        # No service started by the install: the daemon this script starts is its own.
        policy = Path("/usr/sbin/policy-rc.d")
        added = not policy.exists()
        if added:
            policy.write_text("#!/bin/sh\nexit 101\n")
            policy.chmod(0o755)
        try:
            for argv in (["apt-get", "update", "-qq"],
                         ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]):
                done = subprocess.run(argv, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                                      capture_output=True, text=True)
                if done.returncode != 0:
                    raise Failure(f"{' '.join(argv)} failed:\n{done.stdout}{done.stderr}")
        finally:
            if added:
                policy.unlink()
    # The pinned SAM CLI and cargo-lambda, installed the way the template checks and the arm64
    # build install them (quick when already there).
    for script in ("template-checks", "build-functions"):
        done = subprocess.run([str(ROOT / "scripts" / script), "--install"], capture_output=True, text=True)
        if done.returncode != 0:
            raise Failure(f"scripts/{script} --install failed:\n{done.stdout}{done.stderr}")


def docker_client() -> str:
    # Debian's client, of the daemon's own version, before any other on PATH.
    return "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"


def start_docker(services: Services) -> dict:
    """A daemon already running (a developer's Docker) is used as it is; otherwise one of our own
    is started. Returns the environment that points clients at it."""
    running = {"DOCKER_HOST": os.environ["DOCKER_HOST"]} if os.environ.get("DOCKER_HOST") else {}
    if subprocess.run([docker_client(), "info", "--format", "{{.ServerVersion}}"], env={**os.environ, **running},
                      capture_output=True).returncode == 0:
        step("using the Docker daemon already running")
        return running
    step("starting a Docker daemon (Debian's docker.io) of this run's own")
    socket_path = services.state / "docker.sock"
    DOCKER_DATA.mkdir(parents=True, exist_ok=True)
    process, log = services.spawn("dockerd", [
        "dockerd", "--host", f"unix://{socket_path}", "--data-root", str(DOCKER_DATA),
        "--exec-root", str(services.state / "docker-exec"), "--pidfile", str(services.state / "docker.pid"),
    ])
    env = {"DOCKER_HOST": f"unix://{socket_path}"}

    def answers():
        return subprocess.run([docker_client(), "info", "--format", "{{.ServerVersion}}"],
                              env={**os.environ, **env}, capture_output=True).returncode == 0

    wait_until("dockerd", answers, 60, process, log)

    # The functions' containers, whatever SAM left behind (a run cut short, or SAM stopped while
    # it was cleaning up): gone before the daemon stops, and at start from an earlier run.
    def remove_containers():
        names = docker(env, "ps", "--all", "--quiet").split()
        if names:
            docker(env, "rm", "--force", *names)

    remove_containers()
    services.callback(remove_containers)
    return env


def docker(env: dict, *args: str, input: bytes | None = None) -> str:
    done = subprocess.run([docker_client(), *args], env={**os.environ, **env}, input=input, capture_output=True)
    if done.returncode != 0:
        raise Failure(f"docker {' '.join(args)} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout.decode().strip()


def bridge_address(docker_env: dict) -> str:
    return docker(docker_env, "network", "inspect", "bridge", "--format", "{{(index .IPAM.Config 0).Gateway}}")


def build_base_image(docker_env: dict, binaries: list[Path]) -> None:
    """The provided.al2023 stand-in (see the module's docstring), made afresh each run (a second)."""
    step(f"making the base image {BASE_IMAGE} (busybox, the functions' libraries, root certificates)")
    libraries = set()
    for binary in binaries:
        listed = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
        if listed.returncode != 0:
            raise Failure(f"ldd {binary}: {listed.stderr}")
        for line in listed.stdout.splitlines():
            found = re.search(r"(/\S+)\s+\(0x", line)
            if found:
                libraries.add(found.group(1))
    busybox = shutil.which("busybox")
    bundle = next((p for p in ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")
                   if Path(p).is_file()), None)
    if busybox is None or bundle is None:
        raise Failure("busybox or the system's root certificate bundle is missing")
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()

    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        def directory(name: str, mode: int = 0o755):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)

        def file(source: str, name: str):
            data = Path(source).read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))

        for name in ("bin", "etc", "etc/pki", "etc/pki/tls", "etc/pki/tls/certs", "var", "var/task",
                     "var/runtime", "opt", "lib", "lib64", "usr", "usr/lib"):
            directory(name)
        directory("tmp", 0o1777)
        file(busybox, "bin/busybox")
        for applet in applets:
            if applet != "busybox":
                info = tarfile.TarInfo(f"bin/{applet}")
                info.type, info.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(info)
        made = set()
        for library in sorted(libraries):
            parent = str(Path(library).parent).lstrip("/")
            parts = Path(parent).parts
            for i in range(1, len(parts) + 1):
                sub = "/".join(parts[:i])
                if sub not in made and sub not in ("lib", "lib64", "usr", "usr/lib"):
                    directory(sub)
                    made.add(sub)
            file(str(Path(library).resolve()), library.lstrip("/"))
        file(bundle, CA_BUNDLE_IN_IMAGE)
    # A base rebuilt under the same name does not refresh SAM's image built on it: drop that.
    for image in docker(docker_env, "images", "--format", "{{.Repository}}:{{.Tag}}").splitlines():
        if image.startswith(RAPID_IMAGE_PREFIX):
            docker(docker_env, "rmi", "-f", image)
    docker(docker_env, "import", "-", BASE_IMAGE, input=archive.getvalue())


def architecture() -> str:
    machine = platform.machine()
    return {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def sam_environment(docker_env: dict) -> dict:
    """A clean environment: SAM gives a declared variable the value it has in SAM's own environment."""
    # cargo-lambda finds zig as `python3 -m ziglang`: its virtualenv's python3 comes first.
    return {
        "PATH": f"{LAMBDA_VENV}/bin:{SAM_VENV}/bin:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": os.environ.get("HOME", "/root"),
        "CARGO_HOME": os.environ.get("CARGO_HOME", str(Path.home() / ".cargo")),
        "RUSTUP_HOME": os.environ.get("RUSTUP_HOME", str(Path.home() / ".rustup")),
        "LANG": "C.UTF-8",
        "SAM_CLI_TELEMETRY": "0",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        # SAM asks STS who the caller is at every command: a closed port answers at once.
        "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:9",
        "AWS_MAX_ATTEMPTS": "1",
        **({"CARGO_TARGET_DIR": os.environ["CARGO_TARGET_DIR"]} if "CARGO_TARGET_DIR" in os.environ else {}),
        **docker_env,
    }


def sam_build(docker_env: dict, build_dir: Path) -> tuple[Path, list[Path]]:
    step(f"sam build (SAM's cargo-lambda builder, debug, Architecture={architecture()})")
    log = build_dir.parent / "sam-build.log"
    env = {**sam_environment(docker_env), "SAM_BUILD_MODE": "debug"}
    with log.open("wb") as out:
        done = subprocess.run(
            ["sam", "build", "--build-dir", str(build_dir), "--parameter-overrides", f"Architecture={architecture()}"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    if done.returncode != 0:
        raise Failure("sam build failed" + tail(log, 80))
    template = build_dir / "template.yaml"
    binaries = sorted(build_dir.glob("*/bootstrap"))
    if not binaries:
        raise Failure(f"sam build made no bootstrap in {build_dir}" + tail(log))
    return template, binaries


# ---------------------------------------------------------------------------------------------
# The stand-ins: DynamoDB Local, moto, and what the template would create in them
# ---------------------------------------------------------------------------------------------


def start_dynamodb_local(services: Services) -> int:
    step("starting DynamoDB Local (in memory)")
    state = services.state / "dynamodb-local"
    state.mkdir()
    script = ROOT / "scripts" / "dynamodb-local"
    subprocess.run([str(script), "install"], check=True, stdout=subprocess.DEVNULL)
    started = subprocess.run([str(script), "start", str(state)], capture_output=True, text=True)
    services.callback(lambda: subprocess.run([str(script), "stop", str(state)], capture_output=True))
    if started.returncode != 0:
        raise Failure(f"DynamoDB Local did not start: {started.stderr}")
    return int((state / "port").read_text().strip())


def start_moto(services: Services, host: str) -> int:
    step(f"starting moto (SSM, SQS) on {host}")
    state = services.state / "moto"
    state.mkdir()
    script = ROOT / "scripts" / "moto"
    subprocess.run([str(script), "install"], check=True, stdout=subprocess.DEVNULL)
    started = subprocess.run([str(script), "start", str(state)], capture_output=True, text=True,
                             env={**os.environ, "MOTO_HOST": host})
    services.callback(lambda: subprocess.run([str(script), "stop", str(state)], capture_output=True))
    if started.returncode != 0:
        raise Failure(f"moto did not start: {started.stderr}")
    return int((state / "port").read_text().strip())


def aws_json(endpoint: str, target: str, payload: dict) -> dict:
    """One call of an AWS JSON-protocol API. moto checks no signature, but finds the service in the
    credential scope of the Authorization header."""
    service = "ssm" if target.startswith("AmazonSSM") else "sqs"
    status, _, body = http("POST", endpoint + "/", json.dumps(payload).encode(), {
        "Content-Type": "application/x-amz-json-1.1" if service == "ssm" else "application/x-amz-json-1.0",
        "X-Amz-Target": target,
        "Authorization": f"AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{service}/aws4_request, "
                         "SignedHeaders=host, Signature=0",
    })
    if status != 200:
        raise Failure(f"{target} at {endpoint}: {status} {body[:400]!r}")
    return json.loads(body or b"{}")


def create_table(dynamodb: str) -> None:
    orderly = os.environ.get("ORDERLY_BIN", str(ROOT / "target" / "debug" / "orderly"))
    if not Path(orderly).exists():
        raise Failure(f"{orderly} does not exist: build it (cargo build -p orderly) or set ORDERLY_BIN")
    done = subprocess.run([orderly, "table", "create"], capture_output=True, text=True, env={
        **os.environ, "TABLE_NAME": TABLE, "AWS_ENDPOINT_URL": dynamodb, "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_EC2_METADATA_DISABLED": "true",
    })
    if done.returncode != 0:
        raise Failure(f"orderly table create failed: {done.stderr}")


def put_secrets(moto: str, webhook_secret: str, cursor_key: str) -> None:
    for name, value in ((WEBHOOK_SECRET_PARAMETER, webhook_secret), (CURSOR_KEY_PARAMETER, cursor_key)):
        aws_json(moto, "AmazonSSM.PutParameter",
                 {"Name": name, "Value": value, "Type": "SecureString", "Overwrite": True})


def create_queues(moto: str) -> dict:
    queues = {}
    for variable, name in (("EVENTS_QUEUE_URL", "orderly-events"), ("RELAY_DEAD_LETTER_QUEUE_URL", "orderly-relay-dlq")):
        queues[variable] = aws_json(moto, "AmazonSQS.CreateQueue", {"QueueName": name})["QueueUrl"]
    return queues


def receive_messages(moto: str, queue_url: str) -> list[dict]:
    answer = aws_json(moto, "AmazonSQS.ReceiveMessage",
                      {"QueueUrl": queue_url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 0})
    return answer.get("Messages", [])


def env_vars_file(path: Path, inside: str, ports: dict, queues: dict, settings: dict) -> None:
    """Every variable SAM cannot resolve itself, for every function (see the module's docstring).
    `inside` is the address the functions reach the host at; queue URLs are rewritten to it."""
    dynamodb = f"http://{inside}:{ports['dynamodb']}"
    moto = f"http://{inside}:{ports['moto']}"
    variables = {
        "TABLE_NAME": TABLE,
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb,
        "AWS_ENDPOINT_URL_SSM": moto,
        "AWS_ENDPOINT_URL_SQS": moto,
        "PAYMENT_WEBHOOK_SECRET_PARAMETER": WEBHOOK_SECRET_PARAMETER,
        "CURSOR_KEY_PARAMETER": CURSOR_KEY_PARAMETER,
        **{name: re.sub(r"^http://[^/]+", moto, url) for name, url in queues.items()},
        **settings,
    }
    path.write_text(json.dumps({"Parameters": variables}, indent=2))


# ---------------------------------------------------------------------------------------------
# `invoke`: every function under `sam local invoke` with its events/ file
# ---------------------------------------------------------------------------------------------


class Invoker:
    def __init__(self, template: Path, env_vars: Path, docker_env: dict, state: Path):
        self.template, self.env_vars, self.docker_env, self.state = template, env_vars, docker_env, state
        self.functions = functions_by_binary(template)
        self.count = 0

    def invoke(self, binary: str, event: dict) -> dict:
        """The function's answer to `event`, parsed; a crash (no JSON answer) fails the run."""
        self.count += 1
        event_file = self.state / f"event-{self.count}-{binary}.json"
        event_file.write_text(json.dumps(event))
        logical_id = self.functions[binary]
        started = time.monotonic()
        done = subprocess.run(
            ["sam", "local", "invoke", logical_id, "--template", str(self.template), "--event", str(event_file),
             "--env-vars", str(self.env_vars), "--parameter-overrides", f"Architecture={architecture()}",
             "--invoke-image", BASE_IMAGE, "--skip-pull-image",
             "--container-host", "127.0.0.1", "--container-host-interface", "127.0.0.1"],
            cwd=ROOT, env=sam_environment(self.docker_env), capture_output=True, text=True, timeout=300,
        )
        lines = [line for line in done.stdout.splitlines() if line.strip().startswith("{")]
        try:
            answer = json.loads(lines[-1])
        except (IndexError, json.JSONDecodeError):
            raise Failure(f"{binary} ({logical_id}) gave no answer (exit {done.returncode}):\n"
                          f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}") from None
        if "errorType" in answer:
            raise Failure(f"{binary} failed: {answer}\n{done.stderr[-4000:]}")
        print(f"    {binary}: {summary(answer)} ({time.monotonic() - started:.1f} s)", file=sys.stderr)
        return answer


def functions_by_binary(template: Path) -> dict:
    """Each function's logical id by its binary, from the built template (SAM writes it as plain YAML
    with its intrinsics as maps; the two keys read here are plain strings)."""
    functions, current = {}, None
    for line in template.read_text().splitlines():
        found = re.match(r"^  ([A-Za-z0-9]+):\s*$", line)
        if found:
            current = found.group(1)
        binary = re.match(r"^\s+Binary:\s*([a-z0-9-]+)\s*$", line)
        if binary and current:
            functions[binary.group(1)] = current
    if not functions:
        raise Failure(f"no function with a Binary in {template}")
    return functions


def summary(answer: dict) -> str:
    if "statusCode" in answer:
        return f"{answer['statusCode']} {str(answer.get('body', ''))[:100]}"
    return json.dumps(answer)[:140]


def load_event(name: str) -> dict:
    return json.loads((ROOT / "events" / f"{name}.json").read_text())


def body_of(answer: dict) -> dict:
    body = answer.get("body") or ""
    if answer.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return json.loads(body) if body else {}


def answer_with(answer: dict, status: int, what: str) -> dict:
    if answer.get("statusCode") != status:
        raise Failure(f"{what}: expected {status}, got {summary(answer)}")
    return body_of(answer)


def check(condition: bool, what: str) -> None:
    if not condition:
        raise Failure(what)


def with_path(event: dict, name: str, value: str) -> dict:
    """The event with its path parameter `name` (and the raw path holding it) set to `value`."""
    old = event["pathParameters"][name]
    event["pathParameters"][name] = value
    event["rawPath"] = event["rawPath"].replace(old, value)
    event["requestContext"]["http"]["path"] = event["requestContext"]["http"]["path"].replace(old, value)
    return event


def with_body(event: dict, body: dict) -> dict:
    event["body"] = json.dumps(body, separators=(",", ":"))
    event["isBase64Encoded"] = False
    event["headers"]["content-length"] = str(len(event["body"].encode()))
    return event


def invoke_every_function(shape: Shape) -> None:
    """Each function with its sample event, adapted to live data where the sample names ids that
    exist only in its own story (a product, an order): the run makes them first. Reservations
    last a minute here, so that one lapses within the run."""
    step("sam local invoke: every function with its events/ file")
    invoker = Invoker(shape.template, shape.env_vars("invoke", {"ORDER_TTL_SECONDS": "60"}), shape.docker_env,
                      shape.services.state)
    webhook_secret, moto, queues = shape.webhook_secret, shape.moto, shape.queues
    invoke = invoker.invoke
    tested = set()

    def run(binary: str, event: dict) -> dict:
        tested.add(binary)
        return invoke(binary, event)

    health = answer_with(run("check-health", load_event("check-health")), 200, "check-health")
    check(health == {"status": "ok"}, f"check-health: {health}")

    create_product = load_event("create-product")
    wanted = json.loads(create_product["body"])
    product = answer_with(run("create-product", create_product), 201, "create-product")
    for field in ("sku", "name", "price_cents", "stock"):
        check(product.get(field) == wanted[field], f"create-product: {field} {product.get(field)!r}")
    product_id = product["id"]

    got = answer_with(run("get-product", with_path(load_event("get-product"), "id", product_id)), 200, "get-product")
    check(got == product, f"get-product: {got} is not {product}")

    listed = answer_with(run("list-products", load_event("list-products")), 200, "list-products")
    check([p["id"] for p in listed["items"]] == [product_id], f"list-products: {listed}")

    update = with_path(load_event("update-product"), "id", product_id)
    updated = answer_with(run("update-product", update), 200, "update-product")
    check(updated["version"] == 2 and updated["price_cents"] == json.loads(update["body"])["price_cents"],
          f"update-product: {updated}")

    adjust = with_path(load_event("adjust-stock"), "id", product_id)
    adjusted = answer_with(run("adjust-stock", adjust), 200, "adjust-stock")
    delta = json.loads(adjust["body"])["delta"]
    check(adjusted["stock"] == wanted["stock"] + delta, f"adjust-stock: {adjusted}")

    get_profile = load_event("get-profile")
    buyer = get_profile["requestContext"]["authorizer"]["jwt"]["claims"]["sub"]
    profile = answer_with(run("get-profile", get_profile), 200, "get-profile")
    check(profile["id"] == buyer, f"get-profile: {profile}")
    update_profile = load_event("update-profile")
    renamed = answer_with(run("update-profile", update_profile), 200, "update-profile")
    check(renamed["display_name"] == json.loads(update_profile["body"])["display_name"], f"update-profile: {renamed}")

    def place_order() -> dict:
        order_event = load_event("create-order")
        items = json.loads(order_event["body"])["items"]
        for item in items:
            item["product_id"] = product_id
        # The sample's Idempotency-Key would replay the first order: each order its own.
        order_event["headers"]["idempotency-key"] = f"sam-local-{secrets.token_hex(8)}"
        order = answer_with(run("create-order", with_body(order_event, {"items": items})), 201, "create-order")
        check(order["status"] == "pending_payment" and order["user_id"] == buyer, f"create-order: {order}")
        return order

    # Placed first, so that its reservation (ORDER_TTL_SECONDS, a minute in this run) has lapsed
    # by the time the expiry job runs, at the end.
    lapsing = place_order()
    first = place_order()
    got = answer_with(run("get-order", with_path(load_event("get-order"), "id", first["id"])), 200, "get-order")
    check(got["id"] == first["id"], f"get-order: {got}")
    listed = answer_with(run("list-orders", load_event("list-orders")), 200, "list-orders")
    check(first["id"] in [o["id"] for o in listed["items"]], f"list-orders: {listed}")
    cancelled = answer_with(run("cancel-order", with_path(load_event("cancel-order"), "id", first["id"])), 200, "cancel-order")
    check(cancelled["status"] == "cancelled", f"cancel-order: {cancelled}")

    # Paid: the sample's payment for an order placed now, signed now with the run's secret.
    second = place_order()
    webhook = load_event("payment-webhook")
    payment = json.loads(webhook["body"])
    payment.update(id=f"evt_{secrets.token_hex(8)}", order_id=second["id"], amount_cents=second["total_cents"])
    webhook = with_body(webhook, payment)
    stamp = str(int(time.time()))
    mac = hmac.new(webhook_secret.encode(), f"{stamp}.{webhook['body']}".encode(), hashlib.sha256).hexdigest()
    webhook["headers"]["webhook-signature"] = f"t={stamp},v1={mac}"
    answer_with(run("payment-webhook", webhook), 200, "payment-webhook")
    got = answer_with(invoke("get-order", with_path(load_event("get-order"), "id", second["id"])), 200, "get-order")
    check(got["status"] == "paid", f"the paid order: {got}")

    # Today's report counts the paid order; the GET then reads what the POST stored.
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    compute = with_path(load_event("compute-daily-report"), "date", today)
    report = answer_with(run("compute-daily-report", compute), 200, "compute-daily-report")
    check((report["date"], report["orders_paid"], report["revenue_cents"], report["units_sold"])
          == (today, 1, second["total_cents"], sum(i["quantity"] for i in second["items"])),
          f"compute-daily-report: {report}")
    stored = answer_with(run("get-daily-report", with_path(load_event("get-daily-report"), "date", today)), 200,
                    "get-daily-report")
    check(stored == report, f"get-daily-report: {stored} is not {report}")

    unknown = load_event("reject-unknown-route")
    rejected = run("reject-unknown-route", unknown)
    check(rejected.get("statusCode") in (404, 405), f"reject-unknown-route: {summary(rejected)}")
    check(rejected.get("headers", {}).get("content-type") == "application/problem+json",
          f"reject-unknown-route: {rejected}")

    # The relay: the sample stream batch goes to the events queue.
    relayed = run("relay-events", load_event("relay-events"))
    check(relayed == {"batchItemFailures": []}, f"relay-events: {relayed}")
    messages = receive_messages(moto, queues["EVENTS_QUEUE_URL"])
    sample_ids = [r["dynamodb"]["NewImage"]["id"]["S"] for r in load_event("relay-events")["Records"]
                  if r["dynamodb"].get("NewImage", {}).get("type", {}).get("S") == "order_event"]
    published = [json.loads(m["Body"])["id"] for m in messages]
    check(sorted(published) == sorted(sample_ids), f"relay-events published {published}, expected {sample_ids}")

    # The notification job: the sample batch becomes the buyer's notifications.
    notified = run("notify", load_event("notify"))
    check(notified == {"batchItemFailures": []}, f"notify: {notified}")
    told = answer_with(run("list-notifications", load_event("list-notifications")), 200, "list-notifications")
    sample_events = [json.loads(r["body"])["id"] for r in load_event("notify")["Records"]]
    check(len(told["items"]) >= len(set(sample_events)), f"list-notifications after notify: {told}")

    # The expiry job, scheduled once the first order's reservation has lapsed (the job never
    # looks past its own clock, whatever the schedule says): that order expires, no other.
    lapses_at = dt.datetime.strptime(lapsing["expires_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)
    time.sleep(max(0.0, (lapses_at - dt.datetime.now(dt.timezone.utc)).total_seconds() + 1))
    expire = load_event("expire-orders")
    expire["time"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    swept = run("expire-orders", expire)
    check(swept.get("expired") == 1, f"expire-orders: {swept}")
    got = answer_with(invoke("get-order", with_path(load_event("get-order"), "id", lapsing["id"])), 200, "get-order")
    check(got["status"] == "expired", f"expire-orders answered {swept}; the order is {got['status']}")

    previous = load_event("report-previous-day")
    tomorrow = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
    previous["time"] = tomorrow.strftime("%Y-%m-%dT00:05:00Z")
    reported = run("report-previous-day", previous)
    check(today in json.dumps(reported), f"report-previous-day at {previous['time']}: {reported}")

    untested = sorted(set(invoker.functions) - tested)
    check(not untested, f"functions of the template not invoked: {untested}")
    print(f"sam local invoke: {len(tested)} functions, {invoker.count} invocations, every answer as expected",
          file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# The whole shape
# ---------------------------------------------------------------------------------------------


def secret(variable: str, file_name: str) -> str:
    """A secret as the local server and `orderly token` find it: the variable, else the file in the
    data dir (ORDERLY_DATA_DIR, ./.orderly by default), else generated into that file (owner-only),
    so that `orderly token` mints tokens the shape accepts with no set-up."""
    if os.environ.get(variable):
        return os.environ[variable]
    data_dir = Path(os.environ.get("ORDERLY_DATA_DIR", ".orderly"))
    path = data_dir / file_name
    if path.is_file():
        return path.read_text().strip()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
        out.write(value)
    print(f"{variable} is not set: generated into {path}", file=sys.stderr)
    return value


def settings_from_environment() -> tuple[dict, str, str]:
    """The settings and the two secrets, read as the local server reads them."""
    webhook_secret = secret("PAYMENT_WEBHOOK_SECRET", "webhook-secret")
    jwt_secret = secret("ORDERLY_JWT_SECRET", "jwt-secret")
    settings = {name: os.environ[name] for name in
                ("ORDER_TTL_SECONDS", "CURRENCY", "MAX_UNPAID_ORDERS_PER_USER", "MAX_RESERVED_UNITS_PER_USER")
                if os.environ.get(name)}
    return settings, webhook_secret, jwt_secret


class Shape:
    """What `prepare` started and made: the build, the stand-ins, the secrets."""

    def __init__(self, services: Services):
        ensure_tools()
        self.services = services
        self.docker_env = start_docker(services)
        self.template, binaries = sam_build(self.docker_env, services.state / "build")
        build_base_image(self.docker_env, binaries)
        self.inside = bridge_address(self.docker_env)
        self.ports = {"dynamodb": start_dynamodb_local(services), "moto": start_moto(services, self.inside)}
        self.dynamodb = f"http://127.0.0.1:{self.ports['dynamodb']}"
        self.moto = f"http://{self.inside}:{self.ports['moto']}"
        create_table(self.dynamodb)
        self.settings, self.webhook_secret, self.jwt_secret = settings_from_environment()
        put_secrets(self.moto, self.webhook_secret, secrets.token_urlsafe(32))
        self.queues = create_queues(self.moto)

    def env_vars(self, name: str, overrides: dict | None = None) -> Path:
        """A file for SAM's --env-vars: the settings read, with `overrides`."""
        path = self.services.state / f"env-vars-{name}.json"
        env_vars_file(path, self.inside, self.ports, self.queues, {**self.settings, **(overrides or {})})
        return path


def routes_file(path: Path) -> None:
    """The HTTP API's routes as template.yaml declares them (scripts/gateway_routes.py), for the gateway."""
    done = subprocess.run([str(SAM_VENV / "bin" / "python"), str(ROOT / "scripts" / "gateway_routes.py")],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise Failure(f"scripts/gateway_routes.py failed: {done.stderr}")
    path.write_text(done.stdout)


def serve_shape(shape: Shape, env_vars: Path):
    """The functions under start-lambda and the gateway before them; returns the base URL and the
    two processes, once every route answers."""
    step("sam local start-lambda (warm containers)")
    services = shape.services
    lambda_port = free_port()
    start_lambda = services.spawn("start-lambda", [
        "sam", "local", "start-lambda", "--template", str(shape.template), "--env-vars", str(env_vars),
        "--parameter-overrides", f"Architecture={architecture()}", "--invoke-image", BASE_IMAGE,
        "--skip-pull-image", "--warm-containers", "EAGER", "--host", "127.0.0.1", "--port", str(lambda_port),
        "--container-host", "127.0.0.1", "--container-host-interface", "127.0.0.1",
    ], env=sam_environment(shape.docker_env))
    lambda_endpoint = f"http://127.0.0.1:{lambda_port}"
    wait_until("sam local start-lambda", lambda: http("GET", lambda_endpoint + "/")[0] != 0, 300, *start_lambda)

    step("the test gateway (routes from template.yaml, the JWT authorizer's effect)")
    routes = services.state / "routes.json"
    routes_file(routes)
    gateway_bin = os.environ.get("ORDERLY_TEST_GATEWAY_BIN", str(ROOT / "target" / "debug" / "test-gateway"))
    if not Path(gateway_bin).exists():
        raise Failure(f"{gateway_bin} does not exist: cargo build -p orderly-test-gateway")
    gateway = services.spawn("gateway", [
        gateway_bin, "--routes", str(routes), "--lambda-endpoint", lambda_endpoint, "--listen", "127.0.0.1:0",
    ], env={**os.environ, "ORDERLY_JWT_SECRET": shape.jwt_secret})

    def listening():
        found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", gateway[1].read_text(errors="replace"))
        return found.group(1) if found else None

    base = wait_until("test-gateway", listening, 30, *gateway)
    # Every function up and answering: each route once (warm containers start with the first).
    wait_until("every route", lambda: every_route_answers(base, routes), 600, *start_lambda)
    return base, {"start-lambda": start_lambda, "gateway": gateway}


def deployed_shape(state: Path, command: list[str], invoke_first: bool = False) -> int:
    """Runs the shape until SIGTERM; or, given a command, runs it against the shape and stops.
    With `invoke_first`, every function under `sam local invoke` before (one build for both)."""
    with Services(state) as services:
        shape = Shape(services)
        if invoke_first:
            invoke_every_function(shape)
        base, processes = serve_shape(shape, shape.env_vars("shape"))
        where = {"ORDERLY_TEST_BASE_URL": base, "ORDERLY_TEST_DYNAMODB_ENDPOINT": shape.dynamodb,
                 "ORDERLY_TEST_TABLE_NAME": TABLE}
        if command:
            step(f"against the deployed shape at {base}: {' '.join(command)}")
            # Also what a command needs to run SAM itself on the same build and daemon.
            sam = {**shape.docker_env, "ORDERLY_SAM_TEMPLATE": str(shape.template),
                   "ORDERLY_SAM_ENV_VARS": str(shape.env_vars("shape")), "ORDERLY_SAM_BASE_IMAGE": BASE_IMAGE}
            return subprocess.run(command, env={**os.environ, **where, **sam}).returncode
        for name, value in where.items():
            print(f"{name}={value}", flush=True)
        print(base, flush=True)
        stopped = []
        signal.signal(signal.SIGTERM, lambda *_: stopped.append(True))
        signal.signal(signal.SIGINT, lambda *_: stopped.append(True))
        while not stopped:
            for name, (process, log) in processes.items():
                if process.poll() is not None:
                    raise Failure(f"{name} exited ({process.returncode})" + tail(log))
            time.sleep(0.5)
        print("stopping the deployed shape", file=sys.stderr)
        return 0


def every_route_answers(base: str, routes: Path) -> bool:
    table = json.loads(routes.read_text())
    for route in table["routes"]:
        path = re.sub(r"\{[^}]+\}", "00000000000000000000000000", route["path"])
        status, _, _ = http(route["method"], base + path, b"{}" if route["method"] != "GET" else None,
                            {"content-type": "application/json"}, timeout=120)
        # Anything but the gateway's own failures: the function ran.
        if status in (0, 500, 502, 503, 504):
            return False
    return True


def invoke_all(state: Path, command: list[str]) -> int:
    del command  # `invoke` takes none
    with Services(state) as services:
        invoke_every_function(Shape(services))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["invoke", "deployed-shape", "check"])
    parser.add_argument("against", nargs="*", help="deployed-shape: a command to run against it, then stop")
    arguments = parser.parse_args()
    # SIGTERM unwinds like an exception until the shape is up (then it ends the wait instead).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    state = Path(tempfile.mkdtemp(prefix="orderly-sam-local."))
    try:
        if arguments.command == "invoke":
            return invoke_all(state, arguments.against)
        return deployed_shape(state, arguments.against, invoke_first=arguments.command == "check")
    except Failure as failure:
        print(f"\nERROR (sam-local): {failure}", file=sys.stderr)
        print(f"logs kept in {state}", file=sys.stderr)
        state = None
        return 1
    finally:
        if state is not None:
            shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
