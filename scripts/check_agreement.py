#!/usr/bin/env python3
"""Checks that everything naming Orderly's routes, functions and table agrees, one to one.

Every source is a file of this repository, read as written (the one list kept here is
EXPECTED_ACCESS below, which no source states in a form a script can read):
  (a) the route table, written once in core/src/api/routes.rs, as the local server prints it:
      `orderly routes --json`, one JSON object per line ({"function", "method", "path",
      "path_parameter", "access"}), the last one the $default route's function (method and path
      null). It is run as `cargo run --quiet -p orderly -- routes --json` from the repository's
      root, or as `$ORDERLY_BIN routes --json` when ORDERLY_BIN names an orderly binary.
  (b) the contract: openapi.yaml (each operation's method, path, operationId, security, 403
      response and path parameters)
  (c) the functions: the binaries of the functions/ package, functions/src/bin/<name>.rs, each
      running its own route of the route table (or, for the $default route's, none)
  (d) the SAM template: template.yaml (each function's Binary, HttpApi Path and Method, Auth,
      CodeUri given once in Globals)
  (e) the sample events: events/<name>.json, one per function
  (f) the table: template.yaml's AWS::DynamoDB::Table against stores/dynamodb/src/table.rs and
      stores/dynamodb/src/keys.rs
plus the template's security: the public routes of the route table (and only they) opt out of the
JWT authorizer, and every function's IAM policy grants exactly the DynamoDB actions its operation
makes (docs/data-model.md §3), never dynamodb:Scan.

The template is loaded with cfn-lint's own YAML decoder (cfnlint.decode), so the short-form
intrinsic tags (!Ref, !Sub, !GetAtt) read as they do for CloudFormation; openapi.yaml with PyYAML
(which cfn-lint depends on). Run it with the interpreter of scripts/template-checks' virtualenv,
which has cfn-lint and the SAM translator, or any python3 that has them.
Usage: check_agreement.py [TEMPLATE] (default: template.yaml; another one, e.g. a deliberately
broken copy, to test these checks). Prints one line per check and ends with `N passed, M failed`;
exits 1 when any check failed.
"""

from __future__ import annotations

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

# The DynamoDB IAM actions each function's operation needs, from the calls in docs/data-model.md
# §3 (and the adapter, stores/dynamodb/src/lib.rs), error paths included. IAM has no
# TransactWriteItems action: a transaction needs the action of each item it writes, PutItem for a
# Put and UpdateItem for an Update (Orderly uses no ConditionCheck or Delete). "Query" is granted
# on the named indexes only, every other action on the table only.
EXPECTED_ACCESS: dict[str, tuple[set[str], set[str]]] = {
    # name: (actions on the table, indexes it may Query)
    "check-health": ({"GetItem"}, set()),  # GetItem HEALTH/HEALTH
    "get-profile": ({"GetItem", "PutItem"}, set()),  # read; first call creates (conditional Put)
    "update-profile": ({"UpdateItem"}, set()),  # upsert
    "list-products": (set(), {"GSI1"}),  # Query GSI1 PRODUCTS#ACTIVE
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
    "compute-daily-report": ({"PutItem"}, {"GSI2"}),  # Query GSI2 PAID#<date>, PutItem report
    "reject-unknown-route": (set(), set()),  # answers 404/405 from the route table alone
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


def route_table() -> list[Route]:
    """Every line of `orderly routes --json`, in order."""
    binary = os.environ.get("ORDERLY_BIN")
    if binary:
        command = [binary, "routes", "--json"]
    else:
        command = ["cargo", "run", "--quiet", "-p", "orderly", "--", "routes", "--json"]
    shown = " ".join(command)
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    except OSError as error:
        raise SystemExit(f"`{shown}` could not be run: {error}") from None
    if done.returncode != 0:
        raise SystemExit(f"`{shown}` exited with {done.returncode}: {done.stderr.strip()[-2000:]}")
    routes = []
    for number, line in enumerate(done.stdout.splitlines(), 1):
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
    """The route table's constant for a function: create-order -> CREATE_ORDER."""
    return name.upper().replace("-", "_")


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
        """Every function: one per route, and the $default route's."""
        return set(self.routes) | {self.unrouted}

    def route_keys(self) -> dict[tuple[str, str], str]:
        """(METHOD, path) -> function, for every route of the route table."""
        return {(r.method, r.path): r.function for r in self.route_rows}

    def template_routes(self) -> dict[str, tuple[str, str, dict]]:
        """Binary -> (method, path, event properties) for every function of the template but the
        $default route's (check_unrouted_function)."""
        routes = {}
        for logical_id, resource in self.functions.items():
            binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary", f"?{logical_id}")
            if binary == self.unrouted:
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
    own route (`run(&orderly_core::api::routes::<CONST>)`), the $default route's run_unrouted()."""
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
        calls = re.findall(r"\brun(?:_unrouted)?\s*\(", text)
        routed = re.findall(r"\borderly_functions::run\(\s*&\s*orderly_core::api::routes::(\w+)\s*\)", text)
        unrouted = re.findall(r"\borderly_functions::run_unrouted\(\s*\)", text)
        if name == s.unrouted:
            if len(unrouted) != 1 or len(calls) != 1:
                problems.append(f"{shown} must call orderly_functions::run_unrouted() and nothing else")
            continue
        want = constant(name)
        if routed != [want] or len(calls) != 1:
            got = routed or [c.strip() for c in calls] or "nothing"
            problems.append(
                f"{shown} runs {got}, not exactly orderly_functions::run(&orderly_core::api::routes::{want})"
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
        f"{binaries[b]} builds {b}, which is no function of the route table"
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
    is given neither the table's name nor the webhook secret (it needs no configuration)."""
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
    config = rust_str_consts(ROOT / "core/src/config.rs")
    table_var = rust_str_consts(STORE / "table.rs").get("TABLE_NAME_VARIABLE", "TABLE_NAME")
    for name in (table_var, config.get("PAYMENT_WEBHOOK_SECRET", "PAYMENT_WEBHOOK_SECRET")):
        if variables.get(name) != "":
            problems.append(f"{logical_id}: Environment {name} is not blanked out (\"\") over the Globals")
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




def check_events(s: Sources) -> list[str]:
    """events/<name>.json for every function and nothing else; an HTTP API (payload 2.0) event
    names its route, which must be its function's ("METHOD PATH", or $default)."""
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
        route_key = event.get("routeKey") if isinstance(event, dict) else None
        route = s.routes.get(name)
        want = "$default" if route is None else f"{route.method} {route.path}"
        if route_key != want:
            problems.append(f"events/{name}.json has routeKey {route_key!r}, not {want!r}")
    names = s.function_names()
    problems += [
        f"events/{p.name} belongs to no function"
        for p in sorted(events.iterdir())
        if p.suffix != ".json" or p.stem not in names
    ]
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
    indexes = {
        value(n): (value(pk), value(sk))
        for n, pk, sk in re.findall(
            r"name:\s*([^,]+),\s*partition_key:\s*([^,]+),\s*sort_key:\s*([^,]+),", block.group(1)
        )
    }
    stream = re.search(r"pub const STREAM_VIEW: StreamViewType = StreamViewType::(\w+);", source)
    projections = set(re.findall(r"ProjectionType::(\w+)", source))
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
                "Projection": {"ProjectionType": upper_snake(p) for p in projections},
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
    if len(attribute_types) != 1 or len(projections) != 1:
        return [
            f"table.rs uses attribute types {attribute_types} and projections {projections}; expected one of each"
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
    """Each function may do exactly what its operation does, on the table or its indexes; no Scan."""
    table = s.table_id
    table_arn = {"Fn::GetAtt": [table, "Arn"]}
    problems = []
    for logical_id, resource in s.functions.items():
        binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        on_table: set[str] = set()
        queried: set[str] = set()
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
                        on_table.update(
                            a.partition(":")[2] for a in actions if a.partition(":")[2] != "Query"
                        )
                        if any(a.partition(":")[2] == "Query" for a in actions):
                            problems.append(
                                f"{logical_id}: Query on the table itself (only indexes are queried)"
                            )
                    elif index and index.group(1) in s.index_names:
                        queried.add(index.group(1))
                        if [a.partition(":")[2] for a in actions] != ["Query"]:
                            problems.append(f"{logical_id}: {actions} on index {index.group(1)} (only Query)")
                    else:
                        problems.append(
                            f"{logical_id}: resource {arn!r} is neither the table nor one of its indexes"
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
        f"EXPECTED_ACCESS (this script) lists {n}, which is no function of the route table"
        for n in sorted(set(EXPECTED_ACCESS) - s.function_names())
    ]
    return problems


def check_runtime_and_logs(s: Sources) -> list[str]:
    """Globals as the functions expect them; each function's own log group, with retention."""
    problems = []
    globals_ = s.template.get("Globals", {}).get("Function", {})
    for key, want in {
        "Runtime": "provided.al2023",
        "Handler": "bootstrap",
        "Architectures": ["arm64"],
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
        config.get("PAYMENT_WEBHOOK_SECRET", "PAYMENT_WEBHOOK_SECRET"): {"Ref": "PaymentWebhookSecret"},
        config.get("ORDER_TTL_SECONDS", "ORDER_TTL_SECONDS"): {"Ref": "OrderTtlSeconds"},
        config.get("CURRENCY", "CURRENCY"): {"Ref": "Currency"},
        "AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH": "true",
    }
    for name, want in wanted.items():
        if variables.get(name) != want:
            problems.append(f"Globals environment {name} is {variables.get(name)!r}, not {want!r}")
    parameters = s.template.get("Parameters", {})
    if not parameters.get("PaymentWebhookSecret", {}).get("NoEcho"):
        problems.append("PaymentWebhookSecret is not NoEcho")
    ttl = parameters.get("OrderTtlSeconds", {})
    core_config = read(ROOT / "core/src/config.rs")
    for key, const in (("Default", "DEFAULT_ORDER_TTL_SECONDS"), ("MaxValue", "MAX_ORDER_TTL_SECONDS")):
        found = re.search(rf"const {const}: i64 = ([0-9 *]+);", core_config)
        if found:
            expected = 1
            for factor in found.group(1).split("*"):
                expected *= int(factor)
            if str(ttl.get(key)) != str(expected):
                problems.append(f"OrderTtlSeconds {key} is {ttl.get(key)!r}, core says {expected}")
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





CHECKS = [
    ("(a) the route table: one name, method and path per route, one $default function", check_route_table),
    ("(a)=(b) the route table's routes are openapi.yaml's operations", check_routes_vs_openapi),
    ("(a)=(b) each operation's operationId is its route's function", check_operation_ids),
    ("(a)=(b) openapi.yaml's security, 403s and path parameters follow each route's access", check_openapi_access),
    ("(a)=(c) functions/src/bin/<name>.rs per function, each running its own route", check_binaries),
    ("(a)=(d) one template function per function, CodeUri functions/ in Globals only", check_template_functions),
    ("(a)=(d) each function's HttpApi path and method", check_template_routes),
    ("(a)=(d) public routes opt out of the JWT authorizer, and only they", check_public_routes),
    ("(a)=(d) the $default route: its own function, no authorizer, throttled, no secret", check_unrouted_function),
    ("(d) SAM transform: routes to functions, auth, references resolve", check_translated_api),
    ("(a)=(e) events/<name>.json for every function, with its routeKey", check_events),
    ("(f) the table agrees with stores/dynamodb/src/table.rs", check_table),
    ("(d) least-privilege IAM: each function's DynamoDB actions, no Scan", check_policies),
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
