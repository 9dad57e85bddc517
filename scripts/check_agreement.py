#!/usr/bin/env python3
"""Checks that everything naming Orderly's routes, jobs, functions and table agrees, one to one.

Every source is a file of this repository, read as written (the lists kept here are
EXPECTED_ACCESS and EXPECTED_MESSAGING below, which no source states in a form a script can read):
  (a) the route table, written once in core/src/api/routes.rs, as the local server prints it:
      `orderly routes --json`, one JSON object per line ({"function", "method", "path",
      "path_parameter", "access"}), the last one the $default route's function (method and path
      null). It is run as `cargo run --quiet -p orderly -- routes --json` from the repository's
      root, or as `$ORDERLY_BIN routes --json` when ORDERLY_BIN names an orderly binary.
  (b) the contract: openapi.yaml (each operation's method, path, operationId, security, 403
      response and path parameters)
  (c) the functions: the binaries of the functions/ package, functions/src/bin/<name>.rs, each
      running its own route of the route table (or, for the $default route's, none), or its own
      job of the job list
  (d) the SAM template: template.yaml (each function's Binary, HttpApi Path and Method, Auth,
      CodeUri given once in Globals; each job's trigger, queues, dead-letter queues and alarms)
  (e) the sample events: events/<name>.json, one per function, in the shape its trigger delivers
      (an HTTP API request, a DynamoDB stream batch, an SQS batch, a scheduled run), and
      events/variants/<name>-<variant>.json, other shapes a function must also accept
  (f) the table: template.yaml's AWS::DynamoDB::Table against stores/dynamodb/src/table.rs and
      stores/dynamodb/src/keys.rs
  (g) the job list, written once in core/src/jobs.rs, as the local server prints it:
      `orderly jobs list --json` (JOBS_COMMAND), run like (a) (`cargo run --quiet -p orderly --
      jobs list --json`, or `$ORDERLY_BIN jobs list --json`). One JSON object per line (as (a)),
      or one JSON array of them, each {"function": "notify", "trigger": "table-stream" | "queue" | "schedule",
      "schedule": "rate(1 minute)" | "cron(...)" | null (a string exactly for a schedule),
      "summary": "..."}; other members are ignored.
plus the template's security: the public routes of the route table (and only they) opt out of the
JWT authorizer, every function's IAM policy grants exactly the DynamoDB actions its operation
makes (docs/data-model.md §3), never dynamodb:Scan, and exactly the queue actions of
EXPECTED_MESSAGING; no secret is an environment variable, and each function may read exactly the
SSM SecureString parameters of EXPECTED_SECRETS (its route's secrets), no other function any; and
its delivery guarantees: every stream or queue trigger reports partial
batch failures, whatever a trigger gives up on lands in a dead-letter queue, and every
dead-letter queue and every job has an alarm.

The template is loaded with cfn-lint's own YAML decoder (cfnlint.decode), so the short-form
intrinsic tags (!Ref, !Sub, !GetAtt) read as they do for CloudFormation; openapi.yaml with PyYAML
(which cfn-lint depends on). Run it with the interpreter of scripts/template-checks' virtualenv,
which has cfn-lint and the SAM translator, or any python3 that has them.
Usage: check_agreement.py [TEMPLATE] (default: template.yaml; another one, e.g. a deliberately
broken copy, to test these checks). Prints one line per check and ends with `N passed, M failed`;
exits 1 when any check failed.

Breaking a check on purpose, to see it fail: the template's checks with a broken copy of
template.yaml passed as TEMPLATE (say, drop ReportBatchItemFailures from NotifyFunction, change
ExpireOrdersFunction's ScheduleExpression, or delete an alarm); the route table's and job list's
checks with ORDERLY_BIN naming a stand-in script that prints other lines for `routes --json` or
`jobs list --json` (a job without a binary, a trigger the template does not have); the others by
editing the file they read (events/, openapi.yaml, functions/src/bin/) in a scratch copy of the
repository (the script reads the files beside it: ROOT is its parent directory).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
OPENAPI = ROOT / "openapi.yaml"
BINARIES = ROOT / "functions" / "src" / "bin"
STORE = ROOT / "stores" / "dynamodb" / "src"
CODE_URI = "functions/"  # the one cargo package of the functions, as Globals.Function names it

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
ACCESS_LEVELS = ("public", "user", "admin")

# The local server's command that prints the job list (g), one JSON object per job.
JOBS_COMMAND = ("jobs", "list", "--json")
# A job's trigger (the job list's name for it) -> the SAM event type that delivers it.
JOB_TRIGGERS = {"table-stream": "DynamoDB", "queue": "SQS", "schedule": "ScheduleV2"}
# The SAM event types of polled triggers, each of which must report partial batch failures.
BATCH_EVENT_TYPES = ("DynamoDB", "SQS", "Kinesis")
# The environment variable the stream job reads the events queue's URL from.
EVENTS_QUEUE_VARIABLE = "EVENTS_QUEUE_URL"
# What EventBridge Scheduler replaces with a run's scheduled time in a schedule's Input.
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
# Other shapes every scheduled job must accept, as events/variants/<name>-<variant>.json: the
# configured input with `detail` as the string "{}", and an EventBridge rule's own Scheduled Event.
SCHEDULE_VARIANTS = ("detail-string", "eventbridge-rule")
# SQS keeps a message 4 days unless the queue says otherwise (MessageRetentionPeriod).
SQS_DEFAULT_RETENTION_SECONDS = 4 * 24 * 3600
# An order event item's attributes (docs/data-model.md), as the stream's NewImage carries them.
EVENT_ITEM_ATTRIBUTES = {"PK", "SK", "type", "schema", "id", "kind", "order_id", "user_id", "occurred_at", "ttl"}
# The members of an event message on the events queue (OrderEvent::to_message).
EVENT_MESSAGE_MEMBERS = {"id", "type", "order_id", "user_id", "occurred_at"}

# The DynamoDB IAM actions each function's operation needs, from the calls in docs/data-model.md
# §3 (and the adapter, stores/dynamodb/src/lib.rs), error paths included. IAM has no
# TransactWriteItems action: a transaction needs the action of each item it writes, PutItem for a
# Put and UpdateItem for an Update (Orderly uses no ConditionCheck or Delete). "Query" is granted
# on the named indexes, and on the table itself only where it is listed among the table's actions
# (a user's notifications, in the user's own partition); every other action on the table only.
EXPECTED_ACCESS: dict[str, tuple[set[str], set[str]]] = {
    # name: (actions on the table, indexes it may Query)
    "check-health": ({"GetItem"}, set()),  # GetItem HEALTH/HEALTH
    "get-profile": ({"GetItem", "PutItem"}, set()),  # read; first call creates (conditional Put)
    "update-profile": ({"UpdateItem"}, set()),  # upsert
    "list-notifications": ({"Query"}, set()),  # Query USER#<user>, begins_with NOTIFICATION#
    # Query GSI3 PRODUCTS#ACTIVE (keys only), then BatchGetItem the page's products (eventually consistent)
    "list-products": ({"BatchGetItem"}, {"GSI3"}),
    "create-product": ({"PutItem"}, set()),  # transaction: Put product, Put SKU guard
    "get-product": ({"GetItem"}, set()),
    "update-product": ({"GetItem", "UpdateItem"}, set()),  # GetItem with several If-Match / on 412
    "adjust-stock": ({"UpdateItem"}, set()),
    "list-orders": (set(), {"GSI1"}),  # Query GSI1 USER#<user>
    # BatchGetItem; transaction: Update per line, Put order, event, key; GetItem after a key race
    "create-order": ({"BatchGetItem", "GetItem", "PutItem", "UpdateItem"}, set()),
    "get-order": ({"GetItem"}, set()),
    # GetItem; transaction: Update order and each product, Put event
    "cancel-order": ({"GetItem", "PutItem", "UpdateItem"}, set()),
    # GetItem x2; transaction: Update order, Put payment event (+ order event); or PutItem
    "payment-webhook": ({"GetItem", "PutItem", "UpdateItem"}, set()),
    "get-daily-report": ({"GetItem"}, set()),
    # Query GSI2 PAID#<date>#<n> for each shard n and the old unsharded PAID#<date>; PutItem report
    "compute-daily-report": ({"PutItem"}, {"GSI2"}),
    "reject-unknown-route": (set(), set()),  # answers 404/405 from the route table alone
    # The jobs (core/src/jobs.rs).
    "relay-events": (set(), set()),  # reads the stream (its event source mapping), no table call
    "notify": ({"PutItem"}, set()),  # PutItem the notification, attribute_not_exists(PK)
    # Query GSI2 PENDING#<n> for each shard n and the old unsharded PENDING; per order,
    # transaction: Update order and each product, Put its event
    "expire-orders": ({"PutItem", "UpdateItem"}, {"GSI2"}),
    # Query GSI2 PAID#<day>#<n> for each shard n and the old unsharded PAID#<day>; PutItem report
    "report-previous-day": ({"PutItem"}, {"GSI2"}),
}

# The queue actions a function's own code makes, each on one queue of the template (logical id).
# What an event source mapping, a schedule or an on-failure destination needs, SAM grants itself.
# SendMessageBatch is authorised as sqs:SendMessage.
EXPECTED_MESSAGING: dict[str, set[tuple[str, str]]] = {
    # SendMessageBatch of the events; SendMessage of an unreadable record to its dead-letter queue.
    "relay-events": {("sqs:SendMessage", "EventsQueue"), ("sqs:SendMessage", "RelayDeadLetterQueue")},
}

# The secrets, each an SSM Parameter Store SecureString the template names (docs/decisions.md,
# 12): logical name -> (the variable that names the parameter to the function, in
# functions/src/config.rs; the template parameter that may name it; the condition that is true when
# that parameter is left empty; the last segment of the default name, /orderly/<stack>/<it>).
SECRETS: dict[str, tuple[str, str, str, str]] = {
    "PaymentWebhookSecret": (
        "PAYMENT_WEBHOOK_SECRET_PARAMETER",
        "PaymentWebhookSecretParameter",
        "DefaultPaymentWebhookSecretParameter",
        "payment-webhook-secret",
    ),
    "CursorKey": ("CURSOR_KEY_PARAMETER", "CursorKeyParameter", "DefaultCursorKeyParameter", "cursor-key"),
}
# Which function may read which secret: its route's (core/src/api/routes.rs, Route::secrets).
# Every function not listed reads none: no variable naming one, no ssm or kms action at all.
EXPECTED_SECRETS: dict[str, set[str]] = {
    "payment-webhook": {"PaymentWebhookSecret"},  # verifies Webhook-Signature
    "list-orders": {"CursorKey"},  # signs and checks its cursors
    "list-products": {"CursorKey"},
    "list-notifications": {"CursorKey"},
}
# The one way a function decrypts its parameter: kms:Decrypt on the account's keys, through SSM only.
KMS_DECRYPT_STATEMENT = {
    "Effect": "Allow",
    "Action": ["kms:Decrypt"],
    "Resource": {"Fn::Sub": "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*"},
    "Condition": {"StringEquals": {"kms:ViaService": {"Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"}}},
}


# ----------------------------------------------------------------------------------------------
# Reading the sources
# ----------------------------------------------------------------------------------------------


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def rel(path: Path) -> str:
    """A path of the repository as its files name it."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class Route:
    """One line of `orderly routes --json`."""

    function: str
    method: str | None  # None: the $default route's function
    path: str | None
    path_parameter: str | None
    access: str


@dataclass(frozen=True)
class Job:
    """One entry of `orderly jobs list --json`."""

    function: str
    trigger: str  # "table-stream", "queue" or "schedule" (JOB_TRIGGERS)
    schedule: str | None  # the schedule's expression, for a "schedule" trigger only
    summary: str


def orderly(*arguments: str) -> tuple[str, str]:
    """The standard output of `orderly <arguments>`, and the command as shown in messages."""
    binary = os.environ.get("ORDERLY_BIN")
    if binary:
        command = [binary, *arguments]
    else:
        command = ["cargo", "run", "--quiet", "-p", "orderly", "--", *arguments]
    shown = " ".join(command)
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    except OSError as error:
        raise SystemExit(f"`{shown}` could not be run: {error}") from None
    if done.returncode != 0:
        raise SystemExit(f"`{shown}` exited with {done.returncode}: {done.stderr.strip()[-2000:]}")
    return done.stdout, shown


def json_rows(output: str, shown: str) -> list[dict]:
    """The objects a `--json` command printed: one JSON array of them, or one object per line."""
    try:
        whole = json.loads(output)
    except json.JSONDecodeError:
        whole = None
    if isinstance(whole, list):
        rows = list(enumerate(whole, 1))
    else:
        rows = []
        for number, line in enumerate(output.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append((number, json.loads(line)))
            except json.JSONDecodeError as error:
                raise SystemExit(f"`{shown}` line {number} is not JSON: {error}: {line!r}") from None
    for number, row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("function"), str):
            raise SystemExit(f"`{shown}` entry {number} names no function: {row!r}")
    return [row for _, row in rows]


def job_list() -> list[Job]:
    """Every job of `orderly jobs list --json`, in order."""
    output, shown = orderly(*JOBS_COMMAND)
    jobs = [
        Job(
            function=row["function"],
            trigger=row.get("trigger"),
            schedule=row.get("schedule"),
            summary=row.get("summary"),
        )
        for row in json_rows(output, shown)
    ]
    if not jobs:
        raise SystemExit(f"`{shown}` printed no jobs")
    return jobs


def route_table() -> list[Route]:
    """Every line of `orderly routes --json`, in order."""
    output, shown = orderly("routes", "--json")
    routes = []
    for number, line in enumerate(output.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise SystemExit(f"`{shown}` line {number} is not JSON: {error}: {line!r}") from None
        if not isinstance(row, dict) or not isinstance(row.get("function"), str):
            raise SystemExit(f"`{shown}` line {number} names no function: {line!r}")
        routes.append(
            Route(
                function=row["function"],
                method=row.get("method"),
                path=row.get("path"),
                path_parameter=row.get("path_parameter"),
                access=row.get("access"),
            )
        )
    if not routes:
        raise SystemExit(f"`{shown}` printed no routes")
    return routes


def openapi_operations(document: dict) -> list[tuple[str, str, dict, list]]:
    """(METHOD, path, operation, path parameter names) of every operation of openapi.yaml."""
    parameters = document.get("components", {}).get("parameters", {})

    def resolve(parameter: dict) -> dict:
        reference = parameter.get("$ref", "")
        if reference.startswith("#/components/parameters/"):
            return parameters.get(reference.rsplit("/", 1)[1], {})
        return parameter

    found = []
    for path, item in (document.get("paths") or {}).items():
        common = [resolve(p) for p in item.get("parameters", [])]
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            own = [resolve(p) for p in operation.get("parameters", [])]
            names = sorted({p.get("name") for p in common + own if p.get("in") == "path"})
            found.append((method.upper(), path, operation, names))
    return found


def rust_str_consts(path: Path) -> dict[str, str]:
    """`pub const NAME: &str = "value";` definitions of a Rust file."""
    return dict(re.findall(r'pub const (\w+): &str = "([^"]*)";', read(path)))


def load_template() -> dict:
    from cfnlint.decode import decode

    template, matches = decode(str(TEMPLATE))
    if matches or template is None:
        raise SystemExit(f"{rel(TEMPLATE)} does not parse: {[str(m) for m in matches]}")
    return template


def load_openapi() -> dict:
    import yaml

    try:
        document = yaml.safe_load(read(OPENAPI))
    except (OSError, yaml.YAMLError) as error:
        raise SystemExit(f"openapi.yaml cannot be read: {error}") from None
    if not isinstance(document, dict):
        raise SystemExit("openapi.yaml is not a mapping")
    return document


def pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


def constant(name: str) -> str:
    """The route table's (or job list's) constant for a function: create-order -> CREATE_ORDER."""
    return name.upper().replace("-", "_")


def m(value) -> dict:
    """`value` if it is a mapping, else an empty one: a property left empty (null) reads as absent."""
    return value if isinstance(value, dict) else {}


def get_att(value, attribute: str = "Arn") -> str | None:
    """The logical id `value` names as `!GetAtt <id>.<attribute>`, else None."""
    if isinstance(value, dict) and list(value) == ["Fn::GetAtt"]:
        target = value["Fn::GetAtt"]
        target = target if isinstance(target, list) else str(target).split(".", 1)
        if len(target) == 2 and target[1] == attribute:
            return str(target[0])
    return None


def ref(value) -> str | None:
    """The logical id `value` names as `!Ref <id>`, else None."""
    if isinstance(value, dict) and list(value) == ["Ref"]:
        return str(value["Ref"])
    return None


# ----------------------------------------------------------------------------------------------
# The checks: each returns a list of problems (empty: passed)
# ----------------------------------------------------------------------------------------------


class Sources:
    def __init__(self) -> None:
        table = route_table()
        self.route_rows = [r for r in table if r.method is not None or r.path is not None]
        unrouted = [r for r in table if r.method is None and r.path is None]
        if len(unrouted) != 1:
            raise SystemExit(
                f"`orderly routes --json` names {len(unrouted)} functions without method and path "
                "(the $default route's), want 1"
            )
        self.unrouted_row = unrouted[0]
        self.unrouted = unrouted[0].function
        self.routes: dict[str, Route] = {}
        for route in self.route_rows:
            self.routes.setdefault(route.function, route)  # check_route_table reports duplicates
        self.job_rows = job_list()
        self.jobs: dict[str, Job] = {}
        for job in self.job_rows:
            self.jobs.setdefault(job.function, job)  # check_job_list reports duplicates
        self.openapi = load_openapi()
        self.operations = openapi_operations(self.openapi)
        self.template = load_template()
        self.resources: dict = self.template.get("Resources", {})
        self.functions = {
            k: v for k, v in self.resources.items() if v.get("Type") == "AWS::Serverless::Function"
        }
        tables = [k for k, v in self.resources.items() if v.get("Type") == "AWS::DynamoDB::Table"]
        self.table_id = tables[0] if len(tables) == 1 else "Table"  # check_table reports any other count
        self.index_names = {
            index.get("IndexName")
            for index in self.resources.get(self.table_id, {})
            .get("Properties", {})
            .get("GlobalSecondaryIndexes", [])
        }

    def function_names(self) -> set[str]:
        """Every function: one per route, the $default route's, and one per job."""
        return set(self.routes) | {self.unrouted} | set(self.jobs)

    def function(self, binary: str) -> tuple[str, dict] | None:
        """The template function (logical id, resource) built from `binary`, if there is one."""
        for logical_id, resource in self.functions.items():
            if resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary") == binary:
                return logical_id, resource
        return None

    def queues(self) -> dict[str, dict]:
        """Every SQS queue of the template: logical id -> properties."""
        return {
            k: v.get("Properties", {}) for k, v in self.resources.items() if v.get("Type") == "AWS::SQS::Queue"
        }

    def timeout(self, resource: dict) -> int:
        """A function's timeout in seconds: its own, else Globals', else Lambda's default, 3."""
        globals_ = self.template.get("Globals", {}).get("Function", {})
        value = resource.get("Properties", {}).get("Timeout", globals_.get("Timeout", 3))
        return value if isinstance(value, int) else 0

    def route_keys(self) -> dict[tuple[str, str], str]:
        """(METHOD, path) -> function, for every route of the route table."""
        return {(r.method, r.path): r.function for r in self.route_rows}

    def template_routes(self) -> dict[str, tuple[str, str, dict]]:
        """Binary -> (method, path, event properties) for every function of the template but the
        $default route's (check_unrouted_function) and the jobs' (check_job_triggers)."""
        routes = {}
        for logical_id, resource in self.functions.items():
            binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary", f"?{logical_id}")
            if binary == self.unrouted or binary in self.jobs:
                continue
            events = resource.get("Properties", {}).get("Events", {})
            api_events = [e for e in events.values() if e.get("Type") == "HttpApi"]
            if len(api_events) == 1:
                props = api_events[0].get("Properties", {})
                routes[binary] = (str(props.get("Method", "")).upper(), props.get("Path", ""), props)
            else:
                routes[binary] = ("?", f"{len(api_events)} HttpApi events", {})
        return routes


def check_route_table(s: Sources) -> list[str]:
    """Each route has its own kebab-case name and its own method and path, a known access level,
    and the path parameter its template names; the $default route's function serves no route."""
    problems = []
    names = [r.function for r in s.route_rows] + [s.unrouted]
    problems += [
        f"function {n} is named {names.count(n)} times" for n in sorted(set(names)) if names.count(n) > 1
    ]
    keys = [(r.method, r.path) for r in s.route_rows]
    problems += [
        f"{m} {p} is routed {keys.count((m, p))} times"
        for m, p in sorted(set(keys), key=str)
        if keys.count((m, p)) > 1
    ]
    for route in s.route_rows + [s.unrouted_row]:
        if not re.fullmatch(r"[a-z]+(-[a-z]+)*", route.function):
            problems.append(f"{route.function}: not a kebab-case function name")
        if route.access not in ACCESS_LEVELS:
            problems.append(f"{route.function}: access {route.access!r} is none of {ACCESS_LEVELS}")
    for route in s.route_rows:
        if not isinstance(route.method, str) or route.method.lower() not in HTTP_METHODS:
            problems.append(f"{route.function}: method {route.method!r}")
        if not isinstance(route.path, str) or not route.path.startswith("/v1/"):
            problems.append(f"{route.function}: path {route.path!r} is not under /v1/")
            continue
        named = re.findall(r"\{([^}]*)\}", route.path)
        if route.path_parameter != (named[0] if len(named) == 1 else None) or len(named) > 1:
            problems.append(
                f"{route.function}: path_parameter {route.path_parameter!r}, its path {route.path}"
            )
    return problems


def check_routes_vs_openapi(s: Sources) -> list[str]:
    """The route table's (method, path) pairs are openapi.yaml's operations, one to one."""
    routes = s.route_keys()
    documented = {(m, p) for m, p, _, _ in s.operations}
    problems = [
        f"route {routes[k]} ({k[0]} {k[1]}) has no operation in openapi.yaml"
        for k in sorted(set(routes) - documented)
    ]
    problems += [
        f"openapi.yaml operation {m} {p} has no route in the route table"
        for m, p in sorted(documented - set(routes))
    ]
    return problems


def check_operation_ids(s: Sources) -> list[str]:
    """Each operation of openapi.yaml has its route's function name as its operationId."""
    routes = s.route_keys()
    problems = []
    for method, path, operation, _ in s.operations:
        function = routes.get((method, path))
        if function is None:
            continue  # reported by check_routes_vs_openapi
        if operation.get("operationId") != function:
            got = operation.get("operationId")
            problems.append(f"openapi.yaml {method} {path}: operationId {got!r}, not {function!r}")
    return problems


def check_openapi_access(s: Sources) -> list[str]:
    """What openapi.yaml says of each route agrees with its access and parameter: public routes
    (only they) need no bearer token, admin routes (only they) answer 403, and the path parameters
    are the route's."""
    routes = {(r.method, r.path): r for r in s.route_rows}
    schemes = s.openapi.get("components", {}).get("securitySchemes", {})
    bearer = {
        name
        for name, scheme in schemes.items()
        if scheme.get("type") == "http" and str(scheme.get("scheme")).lower() == "bearer"
    }
    if not bearer:
        return ["openapi.yaml has no http bearer security scheme"]
    default_security = s.openapi.get("security", [])
    problems = []
    for method, path, operation, path_parameters in s.operations:
        route = routes.get((method, path))
        if route is None:
            continue  # reported by check_routes_vs_openapi
        security = operation.get("security", default_security)
        public = not any(bearer & set(requirement) for requirement in security)
        if public != (route.access == "public"):
            needs = "needs no bearer token" if public else "needs a bearer token"
            problems.append(f"openapi.yaml {method} {path} {needs}; route {route.function} is {route.access}")
        answers_403 = "403" in {str(code) for code in operation.get("responses", {})}
        if answers_403 != (route.access == "admin"):
            says = "answers 403" if answers_403 else "has no 403"
            problems.append(f"openapi.yaml {method} {path} {says}; route {route.function} is {route.access}")
        want = [route.path_parameter] if route.path_parameter else []
        if path_parameters != want:
            problems.append(
                f"openapi.yaml {method} {path} has path parameters {path_parameters}, "
                f"route {route.function} {want}"
            )
    return problems


def check_binaries(s: Sources) -> list[str]:
    """functions/src/bin/<name>.rs for every function and nothing else; each routed one runs its
    own route (`run(&orderly_core::api::routes::<CONST>)`), the $default route's run_unrouted(),
    each job's its own job and no route: `orderly_functions::<runner>(&orderly_core::jobs::<CONST>)`
    or `orderly_functions::jobs::run_<name>()` (run_notify; or its name's first words, run_relay
    for relay-events)."""
    problems = []
    manifest_path = ROOT / "functions" / "Cargo.toml"
    try:
        manifest = tomllib.loads(read(manifest_path))
    except (OSError, tomllib.TOMLDecodeError) as error:
        return [f"functions/Cargo.toml cannot be read: {error}"]
    if manifest.get("bin"):
        names = [b.get("name") for b in manifest["bin"]]
        problems.append(
            f"functions/Cargo.toml declares bin targets by hand {names}; "
            "the binaries are functions/src/bin/<name>.rs"
        )
    if manifest.get("package", {}).get("autobins") is False:
        problems.append("functions/Cargo.toml sets autobins = false, so functions/src/bin/ is not discovered")
    if not BINARIES.is_dir():
        return problems + ["functions/src/bin/ does not exist"]
    names = s.function_names()
    present = set()
    for entry in sorted(BINARIES.iterdir()):
        if entry.is_file() and entry.suffix == ".rs" and entry.stem in names:
            present.add(entry.stem)
        else:
            problems.append(f"functions/src/bin/{entry.name} is no function's binary")
    problems += [f"functions/src/bin/{n}.rs is missing" for n in sorted(names - present)]
    for name in sorted(present):
        text = read(BINARIES / f"{name}.rs")
        shown = f"functions/src/bin/{name}.rs"
        calls = re.findall(r"\brun(?:_unrouted|_with_secrets)?\s*\(", text)
        # run, or run_with_secrets for a route that reads a secret (functions/src/lib.rs holds each
        # binary to its route's secrets in a test of its own).
        routed = re.findall(
            r"\borderly_functions::run(?:_with_secrets)?\(\s*&\s*orderly_core::api::routes::(\w+)\s*\)", text
        )
        unrouted = re.findall(r"\borderly_functions::run_unrouted\(\s*\)", text)
        if name == s.unrouted:
            if len(unrouted) != 1 or len(calls) != 1:
                problems.append(f"{shown} must call orderly_functions::run_unrouted() and nothing else")
            continue
        want = constant(name)
        if name in s.jobs:
            # Either form names its job: the job list's entry, or a runner named after the job
            # (run_notify for notify; run_relay for relay-events, its name's first words).
            calls = re.findall(r"\borderly_functions::[\w:]+\s*\(", text)
            by_entry = re.findall(r"\borderly_functions::[\w:]+\(\s*&\s*orderly_core::jobs::(\w+)\s*\)", text)
            by_name = re.findall(r"\borderly_functions::jobs::run_(\w+)\(\s*\)", text)
            snake = name.replace("-", "_")
            runs_its_job = by_entry == [want] or (
                len(by_name) == 1 and (snake == by_name[0] or snake.startswith(by_name[0] + "_"))
            )
            if not runs_its_job or len(calls) != 1 or "orderly_core::api::routes::" in text:
                got = by_entry or [f"run_{n}" for n in by_name] or [c.strip() for c in calls] or "nothing"
                problems.append(
                    f"{shown} runs {got}, not exactly its own job: "
                    f"orderly_functions::<runner>(&orderly_core::jobs::{want}) or "
                    f"orderly_functions::jobs::run_{snake}() (or run_ and its name's first words)"
                )
            continue
        if routed != [want] or len(calls) != 1:
            got = routed or [c.strip() for c in calls] or "nothing"
            problems.append(
                f"{shown} runs {got}, not exactly orderly_functions::run(&orderly_core::api::routes::{want}) "
                "(or run_with_secrets)"
            )
    return problems


def check_template_functions(s: Sources) -> list[str]:
    """One template function per function, named after its binary, built from the functions/
    package, which Globals.Function's CodeUri names once (no function has its own)."""
    problems = []
    globals_ = s.template.get("Globals", {}).get("Function", {})
    if globals_.get("CodeUri") != CODE_URI:
        problems.append(f"Globals.Function.CodeUri is {globals_.get('CodeUri')!r}, not {CODE_URI!r}")
    if not (ROOT / CODE_URI / "Cargo.toml").is_file():
        problems.append(f"{CODE_URI}Cargo.toml does not exist")
    names = s.function_names()
    binaries = {}
    for logical_id, resource in s.functions.items():
        metadata = resource.get("Metadata", {})
        props = resource.get("Properties", {})
        binary = metadata.get("BuildProperties", {}).get("Binary")
        if "CodeUri" in props or "InlineCode" in props or "ImageUri" in props:
            given = {k: props[k] for k in ("CodeUri", "InlineCode", "ImageUri") if k in props}
            problems.append(f"{logical_id}: has its own {given}; the code is Globals.Function.CodeUri")
        if binary in binaries:
            problems.append(f"{logical_id} and {binaries[binary]} both build {binary}")
        binaries[binary] = logical_id
        if metadata.get("BuildMethod") != "rust-cargolambda":
            problems.append(f"{logical_id}: Metadata BuildMethod is not rust-cargolambda")
        if binary is None:
            problems.append(f"{logical_id}: no Metadata BuildProperties Binary")
            continue
        if logical_id != f"{pascal(binary)}Function":
            problems.append(
                f"{logical_id} builds {binary}: its logical id should be {pascal(binary)}Function"
            )
    problems += [f"function {n} has no AWS::Serverless::Function" for n in sorted(names - set(binaries))]
    problems += [
        f"{binaries[b]} builds {b}, which is no function of the route table or the job list"
        for b in sorted(set(binaries) - names, key=str)
    ]
    return problems


def check_template_routes(s: Sources) -> list[str]:
    """Each function's one HttpApi event has exactly the method and path of its route."""
    problems = []
    for binary, (method, path, props) in s.template_routes().items():
        route = s.routes.get(binary)
        if route is None:
            continue  # reported by check_template_functions
        if (method, path) != (route.method, route.path):
            problems.append(
                f"{binary}: template routes {method} {path}, the route table says {route.method} {route.path}"
            )
        if props.get("ApiId") != {"Ref": "HttpApi"}:
            problems.append(f"{binary}: its HttpApi event is not on the template's HttpApi (ApiId)")
    template = {(m, p) for m, p, _ in s.template_routes().values()}
    routes = set(s.route_keys())
    problems += [f"route {m} {p} has no function in the template" for m, p in sorted(routes - template)]
    problems += [f"template route {m} {p} is not in the route table" for m, p in sorted(template - routes)]
    return problems


def check_unrouted_function(s: Sources) -> list[str]:
    """The $default route's function has exactly one HttpApi event, on the template's HttpApi,
    with no Path or Method (which makes it the $default route), no authorizer and throttling; it
    is given no table name (it needs no configuration; check_secrets holds it to no secret)."""
    found = [
        (logical_id, resource)
        for logical_id, resource in s.functions.items()
        if resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary") == s.unrouted
    ]
    if len(found) != 1:
        return [f"{len(found)} template functions build {s.unrouted}, want 1"]
    logical_id, resource = found[0]
    events = [e for e in resource.get("Properties", {}).get("Events", {}).values()]
    if len(events) != 1 or events[0].get("Type") != "HttpApi":
        return [f"{logical_id}: wants exactly one event, of type HttpApi"]
    props = events[0].get("Properties", {})
    problems = []
    if s.unrouted_row.access != "public":
        problems.append(f"the route table gives {s.unrouted} access {s.unrouted_row.access!r}, not public")
    if props.get("ApiId") != {"Ref": "HttpApi"}:
        problems.append(f"{logical_id}: its HttpApi event is not on the template's HttpApi (ApiId)")
    if "Path" in props or "Method" in props:
        problems.append(f"{logical_id}: Path/Method given, so it is not the $default route")
    if props.get("Auth", {}).get("Authorizer") != "NONE":
        problems.append(f"{logical_id}: the $default route must have Auth Authorizer NONE")
    throttling = props.get("RouteSettings", {})
    for limit in ("ThrottlingBurstLimit", "ThrottlingRateLimit"):
        if not isinstance(throttling.get(limit), int) or throttling[limit] <= 0:
            problems.append(f"{logical_id}: the $default route has no RouteSettings {limit}")
    variables = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
    table_var = rust_str_consts(STORE / "table.rs").get("TABLE_NAME_VARIABLE", "TABLE_NAME")
    if variables.get(table_var) != "":
        problems.append(f"{logical_id}: Environment {table_var} is not blanked out (\"\") over the Globals")
    return problems


def check_public_routes(s: Sources) -> list[str]:
    """Auth: Authorizer: NONE on exactly the route table's public routes; a JWT default for the rest."""
    problems = []
    api = s.resources.get("HttpApi", {})
    auth = api.get("Properties", {}).get("Auth", {})
    default = auth.get("DefaultAuthorizer")
    authorizer = auth.get("Authorizers", {}).get(default, {}) if default else {}
    if not default or "JwtConfiguration" not in authorizer:
        problems.append("HttpApi has no JWT DefaultAuthorizer")
    elif authorizer.get("IdentitySource") != "$request.header.Authorization":
        problems.append("the JWT authorizer does not read $request.header.Authorization")
    public = set()
    for binary, (method, path, props) in s.template_routes().items():
        authorizer_name = props.get("Auth", {}).get("Authorizer")
        if authorizer_name == "NONE":
            public.add((method, path))
        elif authorizer_name not in (None, default):
            problems.append(f"{binary}: route authorizer {authorizer_name!r} is neither NONE nor the default")
    want = {(r.method, r.path) for r in s.route_rows if r.access == "public"}
    if public != want:
        problems.append(f"public routes in the template {sorted(public)} != the route table's {sorted(want)}")
    return problems


def check_translated_api(s: Sources) -> list[str]:
    """What API Gateway will get: the SAM transform, run offline, gives each route its function
    and its security (NONE for the public routes, the JWT authorizer for the rest)."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from samtranslator.translator.transform import transform

    template = json.loads(json.dumps(s.template, default=str))
    # `sam package` replaces the local directory with an S3 object; the transform wants one. (A
    # function's own CodeUri is check_template_functions' finding, not this check's.)
    template.setdefault("Globals", {}).setdefault("Function", {})["CodeUri"] = "s3://bucket/key"
    for resource in template.get("Resources", {}).values():
        props = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function" and "CodeUri" in props:
            props["CodeUri"] = "s3://bucket/key"

    class NoManagedPolicies:  # the transform asks IAM for managed policy ARNs; none are named here
        def load(self) -> dict:
            return {}

    try:
        output = transform(template, {}, NoManagedPolicies())
    except Exception as error:  # noqa: BLE001 - any failure of the transform is the finding
        return [f"the SAM transform fails: {error}"]
    body = output["Resources"].get("HttpApi", {}).get("Properties", {}).get("Body", {})
    default = s.resources["HttpApi"]["Properties"].get("Auth", {}).get("DefaultAuthorizer")
    got = {}
    for path, methods in body.get("paths", {}).items():
        for method, operation in methods.items():
            uri = operation.get("x-amazon-apigateway-integration", {}).get("uri", {}).get("Fn::Sub", "")
            function = re.search(r"\$\{(\w+)\.Arn\}", uri)
            security = [name for requirement in operation.get("security", []) for name in requirement]
            got[(method.upper(), path)] = (function.group(1) if function else None, security)
    problems = []
    for route in s.route_rows:
        method, path, name = route.method, route.path, route.function
        if (method, path) not in got:
            problems.append(f"the transformed API has no route {method} {path}")
            continue
        function, security = got.pop((method, path))
        if function != f"{pascal(name)}Function":
            problems.append(f"{method} {path} invokes {function}, not {pascal(name)}Function")
        want = ["NONE"] if route.access == "public" else [default]
        if security != want:
            problems.append(f"{method} {path} has security {security}, want {want}")
    default_route = got.pop(("X-AMAZON-APIGATEWAY-ANY-METHOD", "/$default"), None)
    want_default = (f"{pascal(s.unrouted)}Function", ["NONE"])
    if default_route != want_default:
        problems.append(f"the $default route is {default_route}, want {want_default}")
    problems += [f"the transformed API has an extra route {m} {p}" for m, p in sorted(got)]
    # cfn-lint does not check references made in Globals (a `!Ref Tabel` there passes it); in the
    # transformed template every Ref, GetAtt and ${...} must name a parameter or a resource.
    known = set(output.get("Parameters", {})) | set(output["Resources"])
    for where, name in references(output.get("Resources", {}), "Resources") + references(
        output.get("Outputs", {}), "Outputs"
    ):
        if name not in known and not name.startswith("AWS::"):
            problems.append(f"{where} refers to {name}, which is neither a parameter nor a resource")
    return problems


def references(node, where: str) -> list[tuple[str, str]]:
    """(where, logical name) of every Ref, Fn::GetAtt and Fn::Sub variable under `node`."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.append((where, value))
            elif key == "Fn::GetAtt":
                target = value[0] if isinstance(value, list) else str(value).split(".")[0]
                found.append((where, target))
            elif key == "Fn::Sub":
                text, local = (value[0], value[1]) if isinstance(value, list) else (value, {})
                for variable in re.findall(r"\$\{([^}!]+)\}", str(text)):
                    if variable.split(".")[0] not in local:
                        found.append((where, variable.split(".")[0]))
                found += references(local, where)
                continue
            found += references(value, f"{where}.{key}" if where.count(".") < 1 else where)
    elif isinstance(node, list):
        for item in node:
            found += references(item, where)
    return found




def order_event_kinds() -> list[str]:
    """The order events' kinds, as core/src/domain/event.rs spells them (OrderEventType::as_str)."""
    source = read(ROOT / "core" / "src" / "domain" / "event.rs")
    kinds = re.findall(r'OrderEventType::\w+ => "([a-z_]+)"', source)
    if not kinds:
        raise SystemExit("core/src/domain/event.rs: no OrderEventType::<kind> => \"<name>\" found")
    return kinds


def event_item_type() -> str:
    """The item type (`type`) of the table's order event items: stores/dynamodb/src/stream.rs."""
    found = rust_str_consts(STORE / "stream.rs").get("EVENT_ITEM_TYPE")
    if not found:
        raise SystemExit("stores/dynamodb/src/stream.rs: pub const EVENT_ITEM_TYPE not found")
    return found


def stream_filter() -> dict:
    """The one event pattern the stream job's trigger filters on: inserted order event items."""
    return {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"type": {"S": [event_item_type()]}}}}


def pattern_matches(pattern: dict, event) -> bool:
    """Whether `event` matches an event filtering pattern made of nested objects and lists of
    exact values (all the template uses; any other operator is refused, not guessed at)."""
    for key, want in pattern.items():
        if not isinstance(event, dict) or key not in event:
            return False
        if isinstance(want, dict):
            if not pattern_matches(want, event[key]):
                return False
        elif isinstance(want, list):
            if any(isinstance(value, (dict, list)) for value in want):
                raise SystemExit(f"filter pattern operator {want!r} is not supported by this script")
            if event[key] not in want:
                return False
        else:
            raise SystemExit(f"filter pattern value {want!r} is neither an object nor a list")
    return True


def job_trigger(s: Sources, job: Job) -> tuple[str, dict, str, dict] | str:
    """(function's logical id, function resource, event type, event properties) of a job's one
    event in the template, or what is wrong with it."""
    found = s.function(job.function)
    if found is None:
        return f"job {job.function} has no template function"  # also check_template_functions'
    logical_id, resource = found
    events = list(m(m(resource.get("Properties")).get("Events")).values())
    want = JOB_TRIGGERS.get(job.trigger, "?")
    if len(events) != 1 or events[0].get("Type") != want:
        got = [e.get("Type") for e in events]
        return (
            f"{logical_id}: events {got}; job {job.function} (trigger {job.trigger}) "
            f"wants exactly one {want} event"
        )
    return logical_id, resource, want, m(events[0].get("Properties"))


def scheduled_input(props: dict) -> dict | None:
    """A ScheduleV2 event's Input, parsed, or None when it is not a JSON object."""
    try:
        value = json.loads(props.get("Input", ""))
    except (TypeError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def check_job_list(s: Sources) -> list[str]:
    """Each job has its own kebab-case name, no route's, a known trigger, a schedule exactly when
    its trigger is a schedule, and a summary."""
    problems = []
    names = [j.function for j in s.job_rows]
    problems += [f"job {n} is listed {names.count(n)} times" for n in sorted(set(names)) if names.count(n) > 1]
    taken = set(s.routes) | {s.unrouted}
    for job in s.job_rows:
        if not re.fullmatch(r"[a-z]+(-[a-z]+)*", job.function):
            problems.append(f"job {job.function}: not a kebab-case function name")
        if job.function in taken:
            problems.append(f"job {job.function}: the name of a route's function too")
        if job.trigger not in JOB_TRIGGERS:
            problems.append(f"job {job.function}: trigger {job.trigger!r} is none of {sorted(JOB_TRIGGERS)}")
        if job.trigger == "schedule":
            if not isinstance(job.schedule, str) or not re.fullmatch(r"(rate|cron)\(.+\)", job.schedule):
                problems.append(f"job {job.function}: schedule {job.schedule!r} is no rate(...) or cron(...)")
        elif job.schedule is not None:
            problems.append(f"job {job.function}: a {job.trigger} job with schedule {job.schedule!r}")
        if not isinstance(job.summary, str) or not job.summary.strip():
            problems.append(f"job {job.function}: no summary")
    return problems


def check_event_kinds(s: Sources) -> list[str]:
    """openapi.yaml's NotificationKind is exactly the core's order event kinds."""
    schema = m(m(m(s.openapi.get("components")).get("schemas")).get("NotificationKind"))
    documented = schema.get("enum")
    kinds = order_event_kinds()
    if documented is None:
        return ["openapi.yaml has no components.schemas.NotificationKind enum"]
    if sorted(documented) != sorted(kinds):
        return [f"openapi.yaml NotificationKind {sorted(documented)}, core's order event kinds {sorted(kinds)}"]
    return []


def check_job_triggers(s: Sources) -> list[str]:
    """Each job's function has exactly the one event its trigger names, configured so that nothing
    is lost: the stream read from its oldest record, only order event inserts, failed batches split
    and given up (to a dead-letter queue) before the stream trims them; the queue with a
    dead-letter queue and a visibility timeout of at least six times the function's timeout (plus
    its batching window); the schedule with the job list's expression (cron in UTC), the run's own
    time in its input, retries and dead-letter queues for delivery and for the function's failures.
    Route functions have HttpApi events only."""
    problems = []
    queues = s.queues()
    for binary, route in s.routes.items():
        found = s.function(binary)
        if found is None:
            continue  # reported by check_template_functions
        logical_id, resource = found
        events = m(m(resource.get("Properties")).get("Events")).values()
        other = [e.get("Type") for e in events if e.get("Type") != "HttpApi"]
        if other:
            problems.append(f"{logical_id}: route {binary} has {other} events besides its HttpApi one")
    for job in s.job_rows:
        trigger = job_trigger(s, job)
        if isinstance(trigger, str):
            problems.append(trigger)
            continue
        logical_id, resource, kind, props = trigger
        where = f"{logical_id} ({kind} event)"
        if kind == "DynamoDB":
            if get_att(props.get("Stream"), "StreamArn") != s.table_id:
                problems.append(f"{where}: Stream is not the table's stream (!GetAtt {s.table_id}.StreamArn)")
            if props.get("StartingPosition") != "TRIM_HORIZON":
                problems.append(f"{where}: StartingPosition {props.get('StartingPosition')!r}, not TRIM_HORIZON")
            filters = m(props.get("FilterCriteria")).get("Filters", [])
            try:
                patterns = [json.loads(f.get("Pattern", "")) for f in filters]
            except (TypeError, json.JSONDecodeError):
                patterns = ["(not JSON)"]
            if patterns != [stream_filter()]:
                want_pattern = json.dumps(stream_filter())
                problems.append(f"{where}: FilterCriteria patterns {patterns}, want [{want_pattern}]")
            if props.get("BisectBatchOnFunctionError") is not True:
                problems.append(f"{where}: BisectBatchOnFunctionError is not true")
            age = props.get("MaximumRecordAgeInSeconds")
            if age != -1:
                problems.append(
                    f"{where}: MaximumRecordAgeInSeconds {age!r}; want -1, so a failed publish is retried "
                    "for as long as the stream keeps the record, never given up earlier"
                )
            retries = props.get("MaximumRetryAttempts")
            if retries != -1:
                problems.append(
                    f"{where}: MaximumRetryAttempts {retries!r}; want -1, a failed publish retried until it succeeds"
                )
            on_failure = m(m(props.get("DestinationConfig")).get("OnFailure"))
            if on_failure.get("Type") != "SQS" or get_att(on_failure.get("Destination")) not in queues:
                problems.append(f"{where}: DestinationConfig.OnFailure is not a queue of the template (Type SQS)")
        elif kind == "SQS":
            queue = get_att(props.get("Queue"))
            if queue not in queues:
                problems.append(f"{where}: Queue is not a queue of the template (!GetAtt <queue>.Arn)")
                continue
            redrive = m(queues[queue].get("RedrivePolicy"))
            receives = redrive.get("maxReceiveCount")
            dead_letters = get_att(redrive.get("deadLetterTargetArn"))
            if dead_letters not in queues or not isinstance(receives, int) or receives < 1:
                problems.append(
                    f"{queue}: no RedrivePolicy to a dead-letter queue of the template with a maxReceiveCount"
                )
            batch = props.get("BatchSize", 10)
            if not isinstance(batch, int) or not 1 <= batch <= 10:
                problems.append(f"{where}: BatchSize {batch!r}, want 1 to 10")
            window = props.get("MaximumBatchingWindowInSeconds", 0)
            want = 6 * s.timeout(resource) + (window if isinstance(window, int) else 0)
            visibility = queues[queue].get("VisibilityTimeout", 30)
            if not isinstance(visibility, int) or visibility < want:
                problems.append(
                    f"{queue}: VisibilityTimeout {visibility!r}, less than six times {logical_id}'s timeout "
                    f"plus its batching window ({want} s)"
                )
        elif kind == "ScheduleV2":
            if props.get("ScheduleExpression") != job.schedule:
                problems.append(
                    f"{where}: ScheduleExpression {props.get('ScheduleExpression')!r}, "
                    f"the job list says {job.schedule!r}"
                )
            if str(job.schedule).startswith("cron(") and props.get("ScheduleExpressionTimezone") != "UTC":
                problems.append(f"{where}: a cron schedule without ScheduleExpressionTimezone UTC")
            if props.get("State", "ENABLED") != "ENABLED":
                problems.append(f"{where}: State {props.get('State')!r}")
            given = scheduled_input(props) or {}
            if given.get("time") != SCHEDULED_TIME or given.get("detail-type") != "Scheduled Event":
                problems.append(
                    f"{where}: Input is not a JSON Scheduled Event whose time is {SCHEDULED_TIME} "
                    "(the run's own time)"
                )
            retry = m(props.get("RetryPolicy"))
            for limit in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
                if not isinstance(retry.get(limit), int):
                    problems.append(f"{where}: no RetryPolicy {limit}")
            if get_att(m(props.get("DeadLetterConfig")).get("Arn")) not in queues:
                problems.append(f"{where}: DeadLetterConfig.Arn is not a queue of the template")
            # Scheduler hands the run to Lambda asynchronously: the function's own failures are
            # retried, and given up to a queue, by its EventInvokeConfig.
            invoke = m(m(resource.get("Properties")).get("EventInvokeConfig"))
            on_failure = m(m(invoke.get("DestinationConfig")).get("OnFailure"))
            if on_failure.get("Type") != "SQS" or get_att(on_failure.get("Destination")) not in queues:
                problems.append(
                    f"{logical_id}: EventInvokeConfig's OnFailure is not a queue of the template (Type SQS)"
                )
            for limit in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
                if not isinstance(invoke.get(limit), int):
                    problems.append(f"{logical_id}: no EventInvokeConfig {limit}")
    return problems


def check_batch_failures(s: Sources) -> list[str]:
    """Every stream or queue event of every function reports partial batch failures."""
    problems = []
    for logical_id, resource in s.functions.items():
        for name, event in m(m(resource.get("Properties")).get("Events")).items():
            if event.get("Type") not in BATCH_EVENT_TYPES:
                continue
            types = m(event.get("Properties")).get("FunctionResponseTypes", [])
            if "ReportBatchItemFailures" not in types:
                problems.append(
                    f"{logical_id}: its {event.get('Type')} event {name} lacks ReportBatchItemFailures"
                )
    return problems


def check_relay_publishes(s: Sources) -> list[str]:
    """The stream job publishes to the queue the queue job reads: its EVENTS_QUEUE_URL is that
    queue (and check_policies holds its sqs:SendMessage to EXPECTED_MESSAGING)."""
    readers = [j for j in s.job_rows if j.trigger == "queue"]
    writers = [j for j in s.job_rows if j.trigger == "table-stream"]
    if len(readers) != 1 or len(writers) != 1:
        return [f"{len(writers)} table-stream jobs and {len(readers)} queue jobs; want one of each"]
    trigger = job_trigger(s, readers[0])
    found = s.function(writers[0].function)
    if isinstance(trigger, str) or found is None:
        return []  # reported by check_job_triggers and check_template_functions
    queue = get_att(trigger[3].get("Queue"))
    logical_id, resource = found
    variables = m(m(m(resource.get("Properties")).get("Environment")).get("Variables"))
    if ref(variables.get(EVENTS_QUEUE_VARIABLE)) != queue:
        return [
            f"{logical_id}: Environment {EVENTS_QUEUE_VARIABLE} is {variables.get(EVENTS_QUEUE_VARIABLE)!r}, "
            f"not !Ref {queue} (the queue {readers[0].function} reads)"
        ]
    return []


def dead_letter_queues(s: Sources) -> dict[str, str]:
    """Every queue something gives up to: logical id -> who gives up to it."""
    found: dict[str, str] = {}
    for queue, props in s.queues().items():
        target = get_att(m(props.get("RedrivePolicy")).get("deadLetterTargetArn"))
        if target:
            found[target] = f"{queue}'s RedrivePolicy"
    for logical_id, resource in s.functions.items():
        props = m(resource.get("Properties"))
        invoke = m(props.get("EventInvokeConfig"))
        target = get_att(m(m(invoke.get("DestinationConfig")).get("OnFailure")).get("Destination"))
        if target:
            found[target] = f"{logical_id}'s EventInvokeConfig"
        for name, event in m(props.get("Events")).items():
            event_props = m(event.get("Properties"))
            for target in (
                get_att(m(m(event_props.get("DestinationConfig")).get("OnFailure")).get("Destination")),
                get_att(m(event_props.get("DeadLetterConfig")).get("Arn")),
            ):
                if target:
                    found[target] = f"{logical_id}'s event {name}"
    return found


def alarms(s: Sources) -> list[dict]:
    return [m(v.get("Properties")) for v in s.resources.values() if v.get("Type") == "AWS::CloudWatch::Alarm"]


def alarmed(
    s: Sources, namespace: str, metric: str, dimension: str, target: str, attribute: str | None
) -> list[dict]:
    """The alarms on `metric` of the resource `target` (named by !GetAtt target.attribute, or !Ref)."""
    found = []
    for alarm in alarms(s):
        if alarm.get("Namespace") != namespace or alarm.get("MetricName") != metric:
            continue
        dimensions = alarm.get("Dimensions", [])
        if len(dimensions) != 1 or dimensions[0].get("Name") != dimension:
            continue
        value = dimensions[0].get("Value")
        named = get_att(value, attribute) if attribute else ref(value)
        if named == target:
            found.append(alarm)
    return found


def check_dead_letters(s: Sources) -> list[str]:
    """Every queue is encrypted; every dead-letter queue keeps its messages at least as long as its
    source and has an alarm on any visible message; every job has an alarm on any error, the
    stream job one on its iterator age too. No alarm breaches for lack of data."""
    problems = []
    queues = s.queues()
    for queue, props in sorted(queues.items()):
        if props.get("SqsManagedSseEnabled") is not True and "KmsMasterKeyId" not in props:
            problems.append(f"{queue}: not encrypted (SqsManagedSseEnabled or KmsMasterKeyId)")
        target = get_att(m(props.get("RedrivePolicy")).get("deadLetterTargetArn"))
        if target in queues:
            kept = queues[target].get("MessageRetentionPeriod", SQS_DEFAULT_RETENTION_SECONDS)
            source = props.get("MessageRetentionPeriod", SQS_DEFAULT_RETENTION_SECONDS)
            if not isinstance(kept, int) or not isinstance(source, int) or kept < source:
                problems.append(f"{target}: keeps messages {kept} s, less than its source {queue} ({source} s)")
    for queue, user in sorted(dead_letter_queues(s).items()):
        if queue not in queues:
            problems.append(f"{user} gives up to {queue}, which is no queue of the template")
            continue
        if not any(
            a.get("ComparisonOperator") == "GreaterThanThreshold" and a.get("Threshold") == 0
            for a in alarmed(s, "AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue, "QueueName")
        ):
            problems.append(
                f"{queue} (dead letters of {user}): no alarm on ApproximateNumberOfMessagesVisible > 0"
            )
    for job in s.job_rows:
        found = s.function(job.function)
        if found is None:
            continue  # reported by check_template_functions
        logical_id = found[0]
        if not any(
            a.get("ComparisonOperator") == "GreaterThanThreshold" and a.get("Threshold") == 0
            for a in alarmed(s, "AWS/Lambda", "Errors", "FunctionName", logical_id, None)
        ):
            problems.append(f"{logical_id}: no alarm on Errors > 0")
        iterator_age = alarmed(s, "AWS/Lambda", "IteratorAge", "FunctionName", logical_id, None)
        if job.trigger == "table-stream" and not iterator_age:
            problems.append(f"{logical_id}: no alarm on IteratorAge")
    for logical_id, resource in s.resources.items():
        if resource.get("Type") == "AWS::CloudWatch::Alarm":
            missing = m(resource.get("Properties")).get("TreatMissingData")
            if missing != "notBreaching":
                problems.append(f"{logical_id}: TreatMissingData {missing!r}, not notBreaching")
    return problems


def check_events(s: Sources) -> list[str]:
    """events/<name>.json for every function and nothing else, in the shape its trigger delivers:
    an HTTP API (payload 2.0) event naming its route ("METHOD PATH", or $default); a DynamoDB stream
    batch of order event inserts that the template's filter lets through; an SQS batch of the
    relay's messages (md5OfBody right); a scheduled run, the template's Input with a concrete time.
    events/variants/ holds, for each scheduled job, the other shapes it must accept
    (<name>-detail-string.json, <name>-eventbridge-rule.json), and nothing else."""
    events = ROOT / "events"
    if not events.is_dir():
        return ["events/ does not exist"]
    problems = []
    for name in sorted(s.function_names()):
        path = events / f"{name}.json"
        if not path.is_file():
            problems.append(f"events/{name}.json is missing")
            continue
        try:
            event = json.loads(read(path))
        except json.JSONDecodeError as error:
            problems.append(f"events/{name}.json is not JSON: {error}")
            continue
        job = s.jobs.get(name)
        if job is not None:
            problems += [f"events/{name}.json: {p}" for p in job_event_problems(s, job, event)]
            continue
        route_key = event.get("routeKey") if isinstance(event, dict) else None
        route = s.routes.get(name)
        want = "$default" if route is None else f"{route.method} {route.path}"
        if route_key != want:
            problems.append(f"events/{name}.json has routeKey {route_key!r}, not {want!r}")
    names = s.function_names()
    problems += [
        f"events/{p.name} belongs to no function"
        for p in sorted(events.iterdir())
        if not (p.name == "variants" and p.is_dir()) and (p.suffix != ".json" or p.stem not in names)
    ]
    variants = events / "variants"
    wanted = {
        f"{job.function}-{variant}.json": job
        for job in s.job_rows
        if job.trigger == "schedule"
        for variant in SCHEDULE_VARIANTS
    }
    present = {p.name: p for p in sorted(variants.iterdir())} if variants.is_dir() else {}
    problems += [f"events/variants/{n} is missing" for n in sorted(set(wanted) - set(present))]
    problems += [
        f"events/variants/{n} is no variant of a scheduled job" for n in sorted(set(present) - set(wanted))
    ]
    for file_name in sorted(set(wanted) & set(present)):
        try:
            event = json.loads(read(present[file_name]))
        except json.JSONDecodeError as error:
            problems.append(f"events/variants/{file_name} is not JSON: {error}")
            continue
        problems += [f"events/variants/{file_name}: {p}" for p in scheduled_event_problems(event, file_name)]
    return problems


def scheduled_event_problems(event, file_name: str) -> list[str]:
    """What is wrong with a scheduled run's event: the configured input (`detail` an object, or
    the string "{}" in a -detail-string variant) or an EventBridge rule's Scheduled Event."""
    if not isinstance(event, dict):
        return ["not a JSON object"]
    problems = []
    if event.get("detail-type") != "Scheduled Event":
        problems.append(f"detail-type {event.get('detail-type')!r}, not 'Scheduled Event'")
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", str(event.get("time"))):
        problems.append(f"time {event.get('time')!r} is not an RFC 3339 UTC time")
    if file_name.endswith("-detail-string.json"):
        if event.get("detail") != "{}":
            problems.append(f"detail {event.get('detail')!r}, not the string \"{{}}\"")
    elif event.get("detail") != {}:
        problems.append(f"detail {event.get('detail')!r}, not {{}}")
    if file_name.endswith("-eventbridge-rule.json"):
        for member in ("version", "id", "source", "account", "region", "resources"):
            if member not in event:
                problems.append(f"an EventBridge rule's Scheduled Event has {member}")
        if event.get("source") != "aws.events":
            problems.append(f"source {event.get('source')!r}, not aws.events")
    return problems


def job_event_problems(s: Sources, job: Job, event) -> list[str]:
    """What is wrong with a job's sample event, for its trigger."""
    trigger = job_trigger(s, job)
    props = trigger[3] if not isinstance(trigger, str) else {}
    if job.trigger == "schedule":
        problems = scheduled_event_problems(event, f"{job.function}.json")
        configured = scheduled_input(props)
        if configured is not None and isinstance(event, dict):
            want = {**configured, "time": event.get("time")}
            if event != want:
                problems.append(f"is not the template's Input with a concrete time: want {json.dumps(want)}")
        return problems
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not records:
        return ["no Records"]
    problems = []
    if job.trigger == "table-stream":
        table = m(m(s.resources.get(s.table_id)).get("Properties"))
        view = m(table.get("StreamSpecification")).get("StreamViewType")
        filters = m(props.get("FilterCriteria")).get("Filters", [])
        item_type = event_item_type()
        kinds = order_event_kinds()
        sequence = []
        for number, record in enumerate(records):
            at = f"Records[{number}]"
            stream = m(record.get("dynamodb")) if isinstance(record, dict) else {}
            for member in ("eventID", "eventVersion", "awsRegion"):
                if not isinstance(record.get(member), str):
                    problems.append(f"{at} has no {member}")
            if record.get("eventSource") != "aws:dynamodb" or record.get("eventName") != "INSERT":
                problems.append(f"{at} is not a DynamoDB INSERT (eventSource, eventName)")
            stream_arn = r"arn:aws[\w-]*:dynamodb:[\w-]+:\d{12}:table/[\w.-]+/stream/[\w.:-]+"
            if not re.fullmatch(stream_arn, str(record.get("eventSourceARN"))):
                problems.append(f"{at}.eventSourceARN is not a table's stream ARN")
            if not re.fullmatch(r"\d+", str(stream.get("SequenceNumber"))):
                problems.append(f"{at}.dynamodb.SequenceNumber is not a string of digits")
            else:
                sequence.append(int(stream["SequenceNumber"]))
            if not isinstance(stream.get("ApproximateCreationDateTime"), (int, float)):
                problems.append(f"{at}.dynamodb.ApproximateCreationDateTime is not a number (epoch seconds)")
            if stream.get("StreamViewType") != view:
                got_view = stream.get("StreamViewType")
                problems.append(f"{at}.dynamodb.StreamViewType {got_view!r}, the table's is {view!r}")
            image = m(stream.get("NewImage"))
            if any(image.get(k) != v for k, v in m(stream.get("Keys")).items()) or not stream.get("Keys"):
                problems.append(f"{at}.dynamodb.Keys are not the NewImage's")
            if set(image) != EVENT_ITEM_ATTRIBUTES:
                problems.append(
                    f"{at}.dynamodb.NewImage has {sorted(image)}, "
                    f"an order event item {sorted(EVENT_ITEM_ATTRIBUTES)}"
                )
            if image.get("type") != {"S": item_type} or m(image.get("kind")).get("S") not in kinds:
                problems.append(f"{at} is not an order event item (type {item_type}, kind one of {kinds})")
            try:
                passes = any(pattern_matches(json.loads(f.get("Pattern", "")), record) for f in filters)
            except (TypeError, json.JSONDecodeError):
                passes = False
            if not passes:
                problems.append(f"{at} does not pass the template's FilterCriteria")
        if sequence != sorted(set(sequence)):
            problems.append("the SequenceNumbers do not increase")
    elif job.trigger == "queue":
        kinds = order_event_kinds()
        for number, record in enumerate(records):
            at = f"Records[{number}]"
            if not isinstance(record, dict):
                problems.append(f"{at} is not an object")
                continue
            for member in ("messageId", "receiptHandle", "body", "md5OfBody", "awsRegion"):
                if not isinstance(record.get(member), str):
                    problems.append(f"{at} has no {member}")
            if record.get("eventSource") != "aws:sqs":
                problems.append(f"{at}.eventSource is not aws:sqs")
            if not re.fullmatch(r"arn:aws[\w-]*:sqs:[\w-]+:\d{12}:[\w-]+", str(record.get("eventSourceARN"))):
                problems.append(f"{at}.eventSourceARN is not a queue's ARN")
            attributes = m(record.get("attributes"))
            for member in ("ApproximateReceiveCount", "SentTimestamp", "ApproximateFirstReceiveTimestamp"):
                if not re.fullmatch(r"\d+", str(attributes.get(member))):
                    problems.append(f"{at}.attributes.{member} is not a string of digits")
            body = str(record.get("body"))
            if record.get("md5OfBody") != hashlib.md5(body.encode()).hexdigest():
                problems.append(f"{at}.md5OfBody is not the MD5 of its body")
            try:
                message = json.loads(body)
            except json.JSONDecodeError:
                message = None
            if not isinstance(message, dict) or set(message) != EVENT_MESSAGE_MEMBERS:
                problems.append(f"{at}.body is not an event message {{id, type, order_id, user_id, occurred_at}}")
            elif message.get("type") not in kinds:
                problems.append(f"{at}.body type {message.get('type')!r} is none of {kinds}")
        ids = [r.get("messageId") for r in records if isinstance(r, dict)]
        if len(set(ids)) != len(ids):
            problems.append("two records share a messageId")
    return problems


def check_table(s: Sources) -> list[str]:
    """The template's table is the one stores/dynamodb/src/table.rs creates."""
    keys = rust_str_consts(STORE / "keys.rs")
    source = read(STORE / "table.rs")

    def value(expression: str) -> str:
        expression = expression.strip()
        if expression.startswith('"'):
            return expression.strip('"')
        if expression.startswith("keys::") and expression[6:] in keys:
            return keys[expression[6:]]
        raise SystemExit(f"stores/dynamodb/src/table.rs: cannot resolve {expression}")

    def const(name: str) -> str:
        found = re.search(rf"pub const {name}: &str = ([^;]+);", source)
        if not found:
            raise SystemExit(f"stores/dynamodb/src/table.rs: {name} not found")
        return value(found.group(1))

    def upper_snake(camel: str) -> str:
        return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).upper()

    block = re.search(r"pub const INDEXES[^=]*=\s*\[(.*?)\];", source, re.S)
    if not block:
        raise SystemExit("stores/dynamodb/src/table.rs: INDEXES not found")
    # Each index: its name, keys and projection, the fields in that order (as rustfmt leaves them).
    # The projection is the index's own; create_table uses it, so ProjectionType::X is written
    # nowhere else in table.rs.
    entries = re.findall(
        r"name:\s*([^,]+),\s*partition_key:\s*([^,]+),\s*sort_key:\s*([^,]+),"
        r"\s*projection:\s*ProjectionType::(\w+),",
        block.group(1),
    )
    if len(entries) != block.group(1).count("Index {"):
        raise SystemExit(
            "stores/dynamodb/src/table.rs: an Index of INDEXES is not `name, partition_key, sort_key, "
            "projection: ProjectionType::X,` in that order"
        )
    indexes = {value(n): (value(pk), value(sk)) for n, pk, sk, _ in entries}
    index_projections = {value(n): p for n, _, _, p in entries}
    code = re.sub(r"(?m)(^|\s)//.*$", r"\1", source.replace(block.group(0), ""))  # comments aside
    stray = re.findall(r"ProjectionType::(\w+)", code)
    stream = re.search(r"pub const STREAM_VIEW: StreamViewType = StreamViewType::(\w+);", source)
    billing = re.findall(r"BillingMode::(\w+)", source)
    attribute_types = set(re.findall(r"ScalarAttributeType::(\w+)", source))
    want = {
        "KeySchema": [
            {"AttributeName": const("PARTITION_KEY"), "KeyType": "HASH"},
            {"AttributeName": const("SORT_KEY"), "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": {
            name: {
                "KeySchema": [
                    {"AttributeName": pk, "KeyType": "HASH"},
                    {"AttributeName": sk, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": upper_snake(index_projections[name])},
            }
            for name, (pk, sk) in indexes.items()
        },
        "TimeToLiveSpecification": {"AttributeName": const("TTL_ATTRIBUTE"), "Enabled": True},
        "StreamViewType": upper_snake(stream.group(1)) if stream else None,
        "BillingMode": upper_snake(billing[0]) if len(billing) == 1 else None,
    }
    key_attributes = [const("PARTITION_KEY"), const("SORT_KEY")] + [
        a for pair in indexes.values() for a in pair
    ]
    if len(attribute_types) != 1:
        return [f"table.rs uses attribute types {attribute_types}; expected one"]
    if stray:
        return [
            f"table.rs names ProjectionType::{stray[0]} outside INDEXES; each index's own projection "
            "(Index.projection) is the one create_table uses"
        ]
    attribute_type = attribute_types.pop()

    tables = [(k, v) for k, v in s.resources.items() if v.get("Type") == "AWS::DynamoDB::Table"]
    if len(tables) != 1:
        return [f"the template has {len(tables)} DynamoDB tables, not 1"]
    logical_id, table = tables[0]
    props = table.get("Properties", {})
    problems = []

    def compare(what: str, got, expected, source: str = "table.rs") -> None:
        if got != expected:
            problems.append(f"{what}: template {got!r}, {source} {expected!r}")

    compare("KeySchema", props.get("KeySchema"), want["KeySchema"])
    compare(
        "AttributeDefinitions",
        sorted(
            (a.get("AttributeName"), a.get("AttributeType")) for a in props.get("AttributeDefinitions", [])
        ),
        sorted((a, attribute_type) for a in key_attributes),
    )
    got_indexes = {
        i.get("IndexName"): {"KeySchema": i.get("KeySchema"), "Projection": i.get("Projection")}
        for i in props.get("GlobalSecondaryIndexes", [])
    }
    compare("GlobalSecondaryIndexes", sorted(got_indexes), sorted(want["GlobalSecondaryIndexes"]))
    for name in sorted(set(got_indexes) & set(want["GlobalSecondaryIndexes"])):
        for part in ("KeySchema", "Projection"):
            compare(f"{name} {part}", got_indexes[name][part], want["GlobalSecondaryIndexes"][name][part])
    compare("LocalSecondaryIndexes", props.get("LocalSecondaryIndexes", []), [])
    compare("TimeToLiveSpecification", props.get("TimeToLiveSpecification"), want["TimeToLiveSpecification"])
    compare(
        "StreamViewType", props.get("StreamSpecification", {}).get("StreamViewType"), want["StreamViewType"]
    )
    compare("BillingMode", props.get("BillingMode"), want["BillingMode"])
    # What only a deployment has (docs/data-model.md §1): recovery, and protection from deletion.
    deployed = "wanted"
    compare(
        "PointInTimeRecoveryEnabled",
        props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled"),
        True,
        deployed,
    )
    compare("DeletionProtectionEnabled", props.get("DeletionProtectionEnabled"), True, deployed)
    compare("DeletionPolicy", table.get("DeletionPolicy"), "Retain", deployed)
    compare("UpdateReplacePolicy", table.get("UpdateReplacePolicy"), "Retain", deployed)
    return problems


def check_policies(s: Sources) -> list[str]:
    """Each function may do exactly what its operation does, on the table or its indexes, and send
    exactly the messages EXPECTED_MESSAGING lists, to the queue it names; no Scan, no wildcard."""
    table = s.table_id
    table_arn = {"Fn::GetAtt": [table, "Arn"]}
    queues = s.queues()
    problems = []
    for logical_id, resource in s.functions.items():
        binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        expected_table = EXPECTED_ACCESS.get(binary, (set(), set()))[0]
        on_table: set[str] = set()
        queried: set[str] = set()
        messaging: set[tuple[str, str]] = set()
        for policy in resource.get("Properties", {}).get("Policies", []):
            if not isinstance(policy, dict) or set(policy) != {"Statement"}:
                problems.append(f"{logical_id}: a policy that is not an inline Statement list: {policy!r}")
                continue
            for statement in policy["Statement"]:
                actions = statement.get("Action", [])
                actions = [actions] if isinstance(actions, str) else actions
                resources = statement.get("Resource", [])
                resources = resources if isinstance(resources, list) else [resources]
                if (
                    statement.get("Effect") != "Allow"
                    or "NotAction" in statement
                    or "NotResource" in statement
                ):
                    problems.append(f"{logical_id}: unexpected statement {statement!r}")
                services = {str(action).partition(":")[0].lower() for action in actions}
                if services in ({"ssm"}, {"kms"}):
                    continue  # a secret's read, held to exactly its parameter by check_secrets
                if services == {"sqs"}:
                    # A queue action, on queues of the template only.
                    for action in actions:
                        if "*" in action:
                            problems.append(f"{logical_id}: grants {action}")
                    for arn in resources:
                        queue = get_att(arn)
                        if queue not in queues:
                            problems.append(
                                f"{logical_id}: {actions} on {arn!r}, which is no queue of the template"
                            )
                            continue
                        messaging.update((str(action), queue) for action in actions)
                    continue
                for action in actions:
                    service, _, name = str(action).partition(":")
                    if service.lower() != "dynamodb" or "*" in action:
                        problems.append(f"{logical_id}: grants {action}")
                    elif name.lower() == "scan":
                        problems.append(f"{logical_id}: grants dynamodb:Scan")
                for arn in resources:
                    index = (
                        re.fullmatch(rf"\$\{{{table}\.Arn\}}/index/(\w+)", str(arn.get("Fn::Sub", "")))
                        if isinstance(arn, dict)
                        else None
                    )
                    if arn == table_arn:
                        on_table.update(a.partition(":")[2] for a in actions)
                        if "Query" in {a.partition(":")[2] for a in actions} - expected_table:
                            problems.append(
                                f"{logical_id}: Query on the table itself (its operation queries indexes only)"
                            )
                    elif index and index.group(1) in s.index_names:
                        queried.add(index.group(1))
                        if [a.partition(":")[2] for a in actions] != ["Query"]:
                            problems.append(f"{logical_id}: {actions} on index {index.group(1)} (only Query)")
                    else:
                        problems.append(
                            f"{logical_id}: resource {arn!r} is neither the table nor one of its indexes"
                        )
        want_messaging = EXPECTED_MESSAGING.get(binary, set())
        if messaging != want_messaging:
            problems.append(
                f"{logical_id}: grants {sorted(messaging)} on queues; its code needs {sorted(want_messaging)}"
            )
        if binary not in EXPECTED_ACCESS:
            if binary not in s.function_names():  # a function's missing entry is reported below
                problems.append(f"{logical_id}: no expected access listed for {binary} in this script")
            continue
        want_table, want_indexes = EXPECTED_ACCESS[binary]
        if on_table != want_table or queried != want_indexes:
            problems.append(
                f"{logical_id}: grants {sorted(on_table)} on the table and Query on {sorted(queried)}; "
                f"its operation needs {sorted(want_table)} and Query on {sorted(want_indexes)}"
            )
    problems += [
        f"function {n}: no expected access listed for it in EXPECTED_ACCESS (this script)"
        for n in sorted(s.function_names() - set(EXPECTED_ACCESS))
    ]
    problems += [
        f"EXPECTED_ACCESS (this script) lists {n}, which is no function of the route table or job list"
        for n in sorted(set(EXPECTED_ACCESS) - s.function_names())
    ]
    problems += [
        f"EXPECTED_MESSAGING (this script) lists {n}, which is no function of the route table or job list"
        for n in sorted(set(EXPECTED_MESSAGING) - s.function_names())
    ]
    return problems


def check_runtime_and_logs(s: Sources) -> list[str]:
    """Globals as the functions expect them; each function's own log group, with retention."""
    problems = []
    globals_ = s.template.get("Globals", {}).get("Function", {})
    for key, want in {
        "Runtime": "provided.al2023",
        "Handler": "bootstrap",
        "Architectures": [{"Ref": "Architecture"}],
    }.items():
        if globals_.get(key) != want:
            problems.append(f"Globals.Function.{key} is {globals_.get(key)!r}, not {want!r}")
    logging = globals_.get("LoggingConfig", {})
    if logging.get("LogFormat") != "JSON":
        problems.append("Globals.Function.LoggingConfig.LogFormat is not JSON")
    variables = globals_.get("Environment", {}).get("Variables", {})
    config = rust_str_consts(ROOT / "core/src/config.rs")
    table_var = rust_str_consts(STORE / "table.rs").get("TABLE_NAME_VARIABLE", "TABLE_NAME")
    wanted = {
        table_var: {"Ref": s.table_id},
        config.get("ORDER_TTL_SECONDS", "ORDER_TTL_SECONDS"): {"Ref": "OrderTtlSeconds"},
        config.get("MAX_UNPAID_ORDERS_PER_USER", "MAX_UNPAID_ORDERS_PER_USER"): {"Ref": "MaxUnpaidOrdersPerUser"},
        config.get("MAX_RESERVED_UNITS_PER_USER", "MAX_RESERVED_UNITS_PER_USER"): {"Ref": "MaxReservedUnitsPerUser"},
        config.get("CURRENCY", "CURRENCY"): {"Ref": "Currency"},
        rust_str_consts(ROOT / "functions/src/config.rs").get("SSL_CERT_FILE", "SSL_CERT_FILE"): (
            "/etc/pki/tls/certs/ca-bundle.crt"
        ),
        # mimalloc's option: no transparent huge pages for the process (docs/decisions.md §14).
        "MIMALLOC_ALLOW_THP": "0",
    }
    for name, want in wanted.items():
        if variables.get(name) != want:
            problems.append(f"Globals environment {name} is {variables.get(name)!r}, not {want!r}")
    # GSI2's order shards: written once, in Globals, so that every function that writes or reads
    # orders uses the same count; a whole number from 1 to 256 (the store refuses any other). Its
    # value is not held to one number here: it may grow (never shrink) without this script changing.
    shards_var = rust_str_consts(STORE / "table.rs").get("ORDER_SHARDS_VARIABLE", "ORDERLY_DYNAMODB_ORDER_SHARDS")
    shards = variables.get(shards_var)
    if not (isinstance(shards, str) and re.fullmatch(r"[1-9][0-9]{0,2}", shards) and int(shards) <= 256):
        problems.append(f"Globals environment {shards_var} is {shards!r}, not a whole number 1 to 256 (a string)")
    for logical_id, resource in s.functions.items():
        own = m(m(m(resource.get("Properties")).get("Environment")).get("Variables"))
        if shards_var in own:
            problems.append(
                f"{logical_id}: Environment sets {shards_var} over the Globals; every function must use one count"
            )
    parameters = s.template.get("Parameters", {})
    # A deployment runs on arm64 unless told otherwise; x86_64 is for SAM's local emulator.
    if parameters.get("Architecture", {}).get("Default") != "arm64":
        problems.append("the Architecture parameter's default is not arm64")
    core_config = read(ROOT / "core/src/config.rs")
    for parameter, key, const in (
        ("OrderTtlSeconds", "Default", "DEFAULT_ORDER_TTL_SECONDS"),
        ("OrderTtlSeconds", "MaxValue", "MAX_ORDER_TTL_SECONDS"),
        ("MaxUnpaidOrdersPerUser", "Default", "DEFAULT_MAX_UNPAID_ORDERS_PER_USER"),
        ("MaxUnpaidOrdersPerUser", "MaxValue", "HIGHEST_MAX_UNPAID_ORDERS_PER_USER"),
        ("MaxReservedUnitsPerUser", "Default", "DEFAULT_MAX_RESERVED_UNITS_PER_USER"),
        ("MaxReservedUnitsPerUser", "MaxValue", "HIGHEST_MAX_RESERVED_UNITS_PER_USER"),
    ):
        given = parameters.get(parameter, {}).get(key)
        found = re.search(rf"const {const}: (?:i64|u32) = ([0-9_ *]+);", core_config)
        if not found:
            problems.append(f"core/src/config.rs has no const {const} for {parameter} {key}")
            continue
        expected = 1
        for factor in found.group(1).split("*"):
            expected *= int(factor.replace("_", ""))
        if str(given) != str(expected):
            problems.append(f"{parameter} {key} is {given!r}, core says {expected}")
    for logical_id, resource in s.functions.items():
        props = resource.get("Properties", {})
        group_ref = props.get("LoggingConfig", {}).get("LogGroup", {})
        group_id = group_ref.get("Ref") if isinstance(group_ref, dict) else None
        group = s.resources.get(group_id or "", {})
        if group.get("Type") != "AWS::Logs::LogGroup":
            problems.append(f"{logical_id}: LoggingConfig.LogGroup is not a log group of the template")
            continue
        if group.get("Properties", {}).get("RetentionInDays") != {"Ref": "LogRetentionDays"}:
            problems.append(f"{group_id}: RetentionInDays is not LogRetentionDays")
        function_name = (
            props.get("FunctionName", {}).get("Fn::Sub")
            if isinstance(props.get("FunctionName"), dict)
            else None
        )
        group_name = group.get("Properties", {}).get("LogGroupName", {})
        group_name = group_name.get("Fn::Sub") if isinstance(group_name, dict) else group_name
        if not function_name or group_name != f"/aws/lambda/{function_name}":
            problems.append(f"{group_id}: named {group_name!r}, not /aws/lambda/<its function's name>")
    return problems





def secret_parameter_name(secret: str) -> dict:
    """The name of `secret`'s parameter as the template spells it: the template parameter's, or
    /orderly/<stack>/<default> when that is left empty."""
    _, parameter, condition, default = SECRETS[secret]
    return {
        "Fn::If": [
            condition,
            {"Fn::Sub": "/orderly/${AWS::StackName}/" + default},
            {"Ref": parameter},
        ]
    }


def secret_parameter_arn(secret: str) -> dict:
    return {
        "Fn::Sub": [
            "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${Name}",
            {"Name": secret_parameter_name(secret)},
        ]
    }


def check_secrets(s: Sources) -> list[str]:
    """No secret in the environment of any function (Globals included); each secret an SSM
    SecureString named by a template parameter; each function given the name of, and
    ssm:GetParameter on exactly, the secrets EXPECTED_SECRETS lists for it, with kms:Decrypt
    through SSM only, and every other function no name, no ssm and no kms action."""
    problems = []
    functions_config = rust_str_consts(ROOT / "functions/src/config.rs")
    core_config = rust_str_consts(ROOT / "core/src/config.rs")
    plain = {core_config.get(c, c) for c in ("PAYMENT_WEBHOOK_SECRET", "CURSOR_KEY")}
    globals_ = m(m(m(s.template.get("Globals")).get("Function")).get("Environment")).get("Variables")
    for name in sorted(plain & set(m(globals_))):
        problems.append(f"Globals environment holds {name}: a secret is never an environment variable")
    parameters = m(s.template.get("Parameters"))
    conditions = m(s.template.get("Conditions"))
    if "PaymentWebhookSecret" in parameters:
        problems.append("the template still takes the webhook secret itself as a parameter (PaymentWebhookSecret)")
    variables_of = {}
    for secret, (variable, parameter, condition, _) in SECRETS.items():
        if functions_config.get(variable) != variable:
            problems.append(f"functions/src/config.rs defines no const {variable} = {variable!r}")
        variables_of[variable] = secret
        given = m(parameters.get(parameter))
        if given.get("Type") != "String" or given.get("Default") != "" or not given.get("AllowedPattern"):
            problems.append(f"{parameter}: want a String parameter, Default \"\", with an AllowedPattern")
        if conditions.get(condition) != {"Fn::Equals": [{"Ref": parameter}, ""]}:
            problems.append(f"Conditions.{condition} is not !Equals [!Ref {parameter}, \"\"]")
    for logical_id, resource in s.functions.items():
        binary = m(m(resource.get("Metadata")).get("BuildProperties")).get("Binary")
        want = EXPECTED_SECRETS.get(binary, set())
        props = m(resource.get("Properties"))
        variables = m(m(props.get("Environment")).get("Variables"))
        for name in sorted(plain & set(variables)):
            problems.append(f"{logical_id}: Environment holds {name}: a secret is never an environment variable")
        named = set()
        for variable, secret in variables_of.items():
            if variable not in variables:
                continue
            named.add(secret)
            if variables[variable] != secret_parameter_name(secret):
                problems.append(
                    f"{logical_id}: Environment {variable} is {variables[variable]!r}, "
                    f"not {secret_parameter_name(secret)!r}"
                )
        granted, decrypts = set(), False
        for policy in props.get("Policies", []):
            for statement in m(policy).get("Statement", []):
                actions = statement.get("Action", [])
                actions = [actions] if isinstance(actions, str) else actions
                services = {str(action).partition(":")[0].lower() for action in actions}
                if not services & {"ssm", "kms"}:
                    continue
                if services == {"kms"} and statement == KMS_DECRYPT_STATEMENT:
                    decrypts = True
                    continue
                if services != {"ssm"} or actions != ["ssm:GetParameter"] or set(statement) != {
                    "Effect",
                    "Action",
                    "Resource",
                }:
                    problems.append(
                        f"{logical_id}: {statement!r}: the only ssm or kms grants are ssm:GetParameter on "
                        f"a secret's parameter and kms:Decrypt through SSM ({KMS_DECRYPT_STATEMENT!r})"
                    )
                    continue
                resources = statement.get("Resource")
                resources = resources if isinstance(resources, list) else [resources]
                for arn in resources:
                    secret = next((k for k in SECRETS if arn == secret_parameter_arn(k)), None)
                    if secret is None:
                        problems.append(f"{logical_id}: ssm:GetParameter on {arn!r}, which is no secret's parameter")
                    else:
                        granted.add(secret)
        if named != want or granted != want:
            problems.append(
                f"{logical_id}: is given the names of {sorted(named)} and may read {sorted(granted)}; "
                f"its code uses {sorted(want)}"
            )
        if decrypts != bool(want):
            problems.append(
                f"{logical_id}: kms:Decrypt through SSM {'granted' if decrypts else 'missing'}; "
                f"it reads {sorted(want) or 'no secret'}"
            )
    problems += [
        f"EXPECTED_SECRETS (this script) lists {n}, which is no function of the route table or job list"
        for n in sorted(set(EXPECTED_SECRETS) - s.function_names())
    ]
    return problems


CHECKS = [
    ("(a) the route table: one name, method and path per route, one $default function", check_route_table),
    ("(a)=(b) the route table's routes are openapi.yaml's operations", check_routes_vs_openapi),
    ("(a)=(b) each operation's operationId is its route's function", check_operation_ids),
    ("(a)=(b) openapi.yaml's security, 403s and path parameters follow each route's access", check_openapi_access),
    ("(a)(g)=(c) functions/src/bin/<name>.rs per function, each running its own route or job", check_binaries),
    ("(a)(g)=(d) one template function per function, CodeUri functions/ in Globals", check_template_functions),
    ("(a)=(d) each function's HttpApi path and method", check_template_routes),
    ("(a)=(d) public routes opt out of the JWT authorizer, and only they", check_public_routes),
    ("(a)=(d) the $default route: its own function, no authorizer, throttled, no table", check_unrouted_function),
    ("(d) SAM transform: routes to functions, auth, references resolve", check_translated_api),
    ("(g) the job list: one name and a known trigger per job, a schedule exactly for schedules", check_job_list),
    ("(g)=(d) each job's function has its trigger's one event, configured to lose nothing", check_job_triggers),
    ("(d) every stream and queue event reports partial batch failures", check_batch_failures),
    ("(d) the stream job publishes to the queue the queue job reads", check_relay_publishes),
    ("(d) queues encrypted; every dead-letter queue and job alarmed", check_dead_letters),
    ("(b)=core openapi.yaml's NotificationKind is the order event kinds", check_event_kinds),
    ("(a)(g)=(e) events/<name>.json for every function, in its trigger's shape; variants", check_events),
    ("(f) the table agrees with stores/dynamodb/src/table.rs", check_table),
    ("(d) least-privilege IAM: each function's DynamoDB and queue actions, no Scan", check_policies),
    ("(d) secrets: SSM SecureStrings, each read only by the functions that use it", check_secrets),
    ("(d) runtime, environment and log groups", check_runtime_and_logs),
]


def main() -> int:
    global TEMPLATE
    if len(sys.argv) > 1:  # another template, e.g. a deliberately broken copy to test these checks
        TEMPLATE = Path(sys.argv[1]).resolve()
    try:
        sources = Sources()
    except SystemExit as error:
        print(f"FAIL reading the sources\n       - {error}")
        print("0 passed, 1 failed")
        return 1
    passed = failed = 0
    for title, check in CHECKS:
        try:
            problems = check(sources)
        except SystemExit as error:
            problems = [str(error)]
        if problems:
            failed += 1
            print(f"FAIL {title}")
            for problem in problems:
                print(f"       - {problem}")
        else:
            passed += 1
            print(f"ok   {title}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
