#!/usr/bin/env python3
"""Checks that everything naming Orderly's routes, functions and table agrees, one to one.

Sources, each read as written (the one list kept here is EXPECTED_ACCESS below, which no source
states in a form a script can read):
  (a) the contract's routes: ../shared/API.md (method and path in backticks, e.g. `POST /v1/orders`)
  (b) the route table of the core: core/src/api/routes.rs (ROUTES)
  (c) the functions: lambda/src/catalog.rs (FUNCTIONS, and UNROUTED_FUNCTION, the one function
      that serves no operation but the API's $default route), the [[bin]] entries of
      lambda/Cargo.toml (the package) and functions/<name>/main.rs (its binaries)
  (d) the SAM template: template.yaml (each function's Binary, HttpApi Path and Method)
  (e) the sample events: events/<name>.json, one per function
  (f) the table: template.yaml's AWS::DynamoDB::Table against dynamodb-store/src/table.rs and
      dynamodb-store/src/keys.rs
plus the template's security: the public routes are exactly the contract's four, every other
route has the JWT authorizer, and every function's IAM policy grants exactly the DynamoDB actions
its operation makes (docs/data-model.md §3), never dynamodb:Scan.

The template is loaded with cfn-lint's own YAML decoder (cfnlint.decode), so the short-form
intrinsic tags (!Ref, !Sub, !GetAtt) read as they do for CloudFormation. Run it with the
interpreter of scripts/template-checks' virtualenv, which has cfn-lint and the SAM translator.
Usage: check_agreement.py [TEMPLATE] (default: template.yaml; another one, e.g. a deliberately
broken copy, to test these checks). Prints one line per check and ends with `N passed, M failed`;
exits 1 when any check failed.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT.parent / "shared" / "API.md"
TEMPLATE = ROOT / "template.yaml"

# GET /v1/me/notifications is in the contract but belongs to a later issue (the notification job
# of the async work): no core operation, route or function serves it yet. Remove it from here
# when that issue adds its route, function and template entry.
NOT_YET_SERVED = {("GET", "/v1/me/notifications")}

# The DynamoDB IAM actions each function's operation needs, from the calls in docs/data-model.md
# §3 (and the adapter, dynamodb-store/src/lib.rs), error paths included. IAM has no
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


def normalise(path: str) -> str:
    """A path with its parameters unnamed: the contract writes {YYYY-MM-DD} where code has {date}."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def contract_routes() -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(every route, the public routes) of the contract, paths normalised."""
    text = read(CONTRACT)
    pattern = re.compile(r"`(GET|POST|PUT|PATCH|DELETE) (/v1/[^`\s]*)`")
    routes = {(m, normalise(p)) for m, p in pattern.findall(text)} - NOT_YET_SERVED
    public_lines = [line for line in text.splitlines() if line.lstrip("- ").startswith("Public routes:")]
    if len(public_lines) != 1:
        raise SystemExit(f"{CONTRACT}: expected one 'Public routes:' line, found {len(public_lines)}")
    public = {(m, normalise(p)) for m, p in pattern.findall(public_lines[0])}
    return routes, public


def core_routes() -> dict[str, tuple[str, str, str]]:
    """operation -> (method, path, access) from ROUTES in core/src/api/routes.rs."""
    text = read(ROOT / "core/src/api/routes.rs")
    table = re.search(r"pub const ROUTES[^=]*=\s*&\[(.*?)\];", text, re.S)
    if not table:
        raise SystemExit("core/src/api/routes.rs: ROUTES not found")
    rows = re.findall(r'\(\s*"(/v1/[^"]*)",\s*Method::(\w+),\s*(\w+),\s*(\w+)\s*\)', table.group(1))
    found: dict[str, tuple[str, str, str]] = {}
    for path, method, operation, access in rows:
        if operation in found:
            raise SystemExit(f"core/src/api/routes.rs: {operation} has two rows")
        found[operation] = (method, path, access)
    return found


def catalog() -> list[tuple[str, str]]:
    """(function name, operation) from FUNCTIONS in lambda/src/catalog.rs, in order."""
    text = read(ROOT / "lambda/src/catalog.rs")
    table = re.search(r"pub const FUNCTIONS[^=]*=\s*&\[(.*?)\];", text, re.S)
    if not table:
        raise SystemExit("lambda/src/catalog.rs: FUNCTIONS not found")
    return re.findall(r'\(\s*"([a-z0-9-]+)",\s*Operation::(\w+)\s*\)', table.group(1))


def unrouted_function() -> str:
    """UNROUTED_FUNCTION from lambda/src/catalog.rs: the function behind the $default route."""
    name = rust_str_consts(ROOT / "lambda/src/catalog.rs").get("UNROUTED_FUNCTION")
    if not name:
        raise SystemExit("lambda/src/catalog.rs: UNROUTED_FUNCTION not found")
    return name


def cargo_bins() -> dict[str, str]:
    """[[bin]] name -> path from lambda/Cargo.toml."""
    manifest = tomllib.loads(read(ROOT / "lambda/Cargo.toml"))
    return {b["name"]: b.get("path", "") for b in manifest.get("bin", [])}


def rust_str_consts(path: Path) -> dict[str, str]:
    """`pub const NAME: &str = "value";` definitions of a Rust file."""
    return dict(re.findall(r'pub const (\w+): &str = "([^"]*)";', read(path)))


def load_template() -> dict:
    from cfnlint.decode import decode

    template, matches = decode(str(TEMPLATE))
    if matches or template is None:
        raise SystemExit(f"template.yaml does not parse: {[str(m) for m in matches]}")
    return template


def pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


# ----------------------------------------------------------------------------------------------
# The checks: each returns a list of problems (empty: passed)
# ----------------------------------------------------------------------------------------------


class Sources:
    def __init__(self) -> None:
        self.contract, self.contract_public = contract_routes()
        self.core = core_routes()
        self.catalog = catalog()
        self.unrouted = unrouted_function()
        self.bins = cargo_bins()
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
        """Every function: the catalog's, and the $default route's."""
        return {n for n, _ in self.catalog} | {self.unrouted}

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


def check_contract_vs_core(s: Sources) -> list[str]:
    core = {(m, normalise(p)) for m, p, _ in s.core.values()}
    problems = [f"contract route {m} {p} has no row in ROUTES" for m, p in sorted(s.contract - core)]
    problems += [f"ROUTES row {m} {p} is not in the contract" for m, p in sorted(core - s.contract)]
    return problems


def check_core_public(s: Sources) -> list[str]:
    public = {(m, normalise(p)) for m, p, access in s.core.values() if access == "Public"}
    if public != s.contract_public:
        return [
            f"ROUTES' Public rows {sorted(public)} != the contract's public routes {sorted(s.contract_public)}"
        ]
    return []


def check_catalog_vs_core(s: Sources) -> list[str]:
    problems = []
    names = [n for n, _ in s.catalog]
    operations = [o for _, o in s.catalog]
    for dup in {n for n in names if names.count(n) > 1}:
        problems.append(f"function {dup} is listed twice")
    for dup in {o for o in operations if operations.count(o) > 1}:
        problems.append(f"operation {dup} has two functions")
    problems += [f"operation {o} (ROUTES) has no function" for o in sorted(set(s.core) - set(operations))]
    problems += [
        f"function for {o} serves no operation of ROUTES" for o in sorted(set(operations) - set(s.core))
    ]
    return problems


def check_catalog_vs_cargo(s: Sources) -> list[str]:
    problems = []
    names = s.function_names()
    problems += [f"function {n} has no [[bin]] in lambda/Cargo.toml" for n in sorted(names - set(s.bins))]
    problems += [f"[[bin]] {n} is not in the catalog" for n in sorted(set(s.bins) - names)]
    for name, operation in s.catalog + [(s.unrouted, None)]:
        main = ROOT / "functions" / name / "main.rs"
        if not main.is_file():
            problems.append(f"functions/{name}/main.rs is missing")
            continue
        if name in s.bins and s.bins[name] != f"../functions/{name}/main.rs":
            problems.append(f"[[bin]] {name} has path {s.bins[name]!r}, not '../functions/{name}/main.rs'")
        if operation is None:
            text = read(main)
            if not re.search(r"\brun_unrouted\(\s*\)", text) or re.search(r"\brun\(", text):
                problems.append(f"functions/{name}/main.rs must call run_unrouted() and nothing else")
            continue
        served = re.findall(r"run\(\s*Operation::(\w+)\s*\)", read(main))
        if served != [operation]:
            problems.append(f"functions/{name}/main.rs runs {served}, the catalog says {operation}")
    return problems


def check_template_functions(s: Sources) -> list[str]:
    """One function per catalog entry, named after its binary, built from the one package."""
    problems = []
    names = s.function_names()
    binaries = {}
    for logical_id, resource in s.functions.items():
        metadata = resource.get("Metadata", {})
        props = resource.get("Properties", {})
        binary = metadata.get("BuildProperties", {}).get("Binary")
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
        if str(props.get("CodeUri", "")).rstrip("/") != "lambda":
            problems.append(f"{logical_id}: CodeUri {props.get('CodeUri')!r}, not the package dir lambda/")
    problems += [f"function {n} has no AWS::Serverless::Function" for n in sorted(names - set(binaries))]
    problems += [
        f"{binaries[b]} builds {b}, which is no function of the catalog"
        for b in sorted(set(binaries) - names, key=str)
    ]
    return problems


def check_template_routes(s: Sources) -> list[str]:
    """Each function's one HttpApi event has exactly the path and method of its operation."""
    problems = []
    operation_of = dict(s.catalog)
    for binary, (method, path, props) in s.template_routes().items():
        operation = operation_of.get(binary)
        if operation not in s.core:
            continue  # reported by the function checks
        want_method, want_path, _ = s.core[operation]
        if (method, path) != (want_method, want_path):
            problems.append(
                f"{binary}: template routes {method} {path}, ROUTES says {want_method} {want_path}"
            )
        if props.get("ApiId") != {"Ref": "HttpApi"}:
            problems.append(f"{binary}: its HttpApi event is not on the template's HttpApi (ApiId)")
    template = {(m, normalise(p)) for m, p, _ in s.template_routes().values()}
    problems += [
        f"contract route {m} {p} has no function in the template" for m, p in sorted(s.contract - template)
    ]
    problems += [f"template route {m} {p} is not in the contract" for m, p in sorted(template - s.contract)]
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
    table_var = rust_str_consts(ROOT / "dynamodb-store/src/table.rs").get("TABLE_NAME_VARIABLE", "TABLE_NAME")
    for name in (table_var, config.get("PAYMENT_WEBHOOK_SECRET", "PAYMENT_WEBHOOK_SECRET")):
        if variables.get(name) != "":
            problems.append(f"{logical_id}: Environment {name} is not blanked out (\"\") over the Globals")
    return problems


def check_public_routes(s: Sources) -> list[str]:
    """Auth: Authorizer: NONE on exactly the contract's public routes; a JWT default for the rest."""
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
            public.add((method, normalise(path)))
        elif authorizer_name not in (None, default):
            problems.append(f"{binary}: route authorizer {authorizer_name!r} is neither NONE nor the default")
    if public != s.contract_public:
        problems.append(
            f"public routes in the template {sorted(public)} != the contract's {sorted(s.contract_public)}"
        )
    return problems


def check_translated_api(s: Sources) -> list[str]:
    """What API Gateway will get: the SAM transform, run offline, gives each route its function
    and its security (NONE for the public routes, the JWT authorizer for the rest)."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from samtranslator.translator.transform import transform

    template = json.loads(json.dumps(s.template, default=str))
    for resource in template["Resources"].values():
        if resource.get("Type") == "AWS::Serverless::Function":
            # `sam package` replaces the local directory with an S3 object; the transform wants one.
            resource["Properties"]["CodeUri"] = "s3://bucket/key"

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
    operation_of = dict(s.catalog)
    for name, operation in operation_of.items():
        if operation not in s.core:
            continue
        method, path, _ = s.core[operation]
        if (method, path) not in got:
            problems.append(f"the transformed API has no route {method} {path}")
            continue
        function, security = got.pop((method, path))
        if function != f"{pascal(name)}Function":
            problems.append(f"{method} {path} invokes {function}, not {pascal(name)}Function")
        want = ["NONE"] if (method, normalise(path)) in s.contract_public else [default]
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
        # An HTTP API (payload 2.0) event names its route; it must be this function's route.
        operation = dict(s.catalog).get(name)
        route_key = event.get("routeKey") if isinstance(event, dict) else None
        if operation in s.core:
            method, route, _ = s.core[operation]
            if route_key != f"{method} {route}":
                problems.append(f"events/{name}.json has routeKey {route_key!r}, not '{method} {route}'")
        elif name == s.unrouted and route_key != "$default":
            problems.append(f"events/{name}.json has routeKey {route_key!r}, not '$default'")
    names = s.function_names()
    problems += [
        f"events/{p.name} belongs to no function"
        for p in sorted(events.glob("*.json"))
        if p.stem not in names
    ]
    return problems


def check_table(s: Sources) -> list[str]:
    """The template's table is the one dynamodb-store/src/table.rs creates."""
    keys = rust_str_consts(ROOT / "dynamodb-store/src/keys.rs")
    source = read(ROOT / "dynamodb-store/src/table.rs")

    def value(expression: str) -> str:
        expression = expression.strip()
        if expression.startswith('"'):
            return expression.strip('"')
        if expression.startswith("keys::") and expression[6:] in keys:
            return keys[expression[6:]]
        raise SystemExit(f"dynamodb-store/src/table.rs: cannot resolve {expression}")

    def const(name: str) -> str:
        found = re.search(rf"pub const {name}: &str = ([^;]+);", source)
        if not found:
            raise SystemExit(f"dynamodb-store/src/table.rs: {name} not found")
        return value(found.group(1))

    def upper_snake(camel: str) -> str:
        return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).upper()

    block = re.search(r"pub const INDEXES[^=]*=\s*\[(.*?)\];", source, re.S)
    if not block:
        raise SystemExit("dynamodb-store/src/table.rs: INDEXES not found")
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
            problems.append(f"{logical_id}: no expected access listed for {binary} in this script")
            continue
        want_table, want_indexes = EXPECTED_ACCESS[binary]
        if on_table != want_table or queried != want_indexes:
            problems.append(
                f"{logical_id}: grants {sorted(on_table)} on the table and Query on {sorted(queried)}; "
                f"its operation needs {sorted(want_table)} and Query on {sorted(want_indexes)}"
            )
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
    table_var = rust_str_consts(ROOT / "dynamodb-store/src/table.rs").get("TABLE_NAME_VARIABLE", "TABLE_NAME")
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
    ("(a)=(b) the contract's routes are ROUTES' rows", check_contract_vs_core),
    ("(a)=(b) ROUTES' Public rows are the contract's public routes", check_core_public),
    ("(b)=(c) every operation of ROUTES has one function in catalog.rs", check_catalog_vs_core),
    ("(c) catalog.rs = Cargo.toml [[bin]]s = functions/<name>/main.rs", check_catalog_vs_cargo),
    ("(c)=(d) one template function per binary, built from the lambda/ package", check_template_functions),
    ("(b)=(d) each function's HttpApi path and method", check_template_routes),
    ("(a)=(d) public routes opt out of the JWT authorizer, and only they", check_public_routes),
    ("(c)=(d) the $default route: its own function, no authorizer, throttled, no secret", check_unrouted_function),
    ("(d) SAM transform: routes to functions, auth, references resolve", check_translated_api),
    ("(e) events/<name>.json for every function", check_events),
    ("(f) the table agrees with dynamodb-store/src/table.rs", check_table),
    ("(d) least-privilege IAM: each function's DynamoDB actions, no Scan", check_policies),
    ("(d) runtime, environment and log groups", check_runtime_and_logs),
]


def main() -> int:
    global TEMPLATE
    if len(sys.argv) > 1:  # another template, e.g. a deliberately broken copy to test these checks
        TEMPLATE = Path(sys.argv[1]).resolve()
    sources = Sources()
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
