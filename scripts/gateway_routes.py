#!/usr/bin/env python3
"""Prints the HTTP API's routes as template.yaml declares them, as JSON for the test gateway
(devtools/test-gateway): each route's method, path, function (logical id) and whether the JWT
authorizer guards it, and the function of the $default route (an HttpApi event with no Path and
no Method). Read from the template alone, so that a route the template gets wrong is wrong at the
gateway too, as it would be once deployed.

Usage: gateway_routes.py [TEMPLATE]   (default: template.yaml; run with .tools/sam-venv's python,
                                       which has cfn-lint's template reader)
"""

import json
import sys
from pathlib import Path

from cfnlint.decode import decode


def gateway_routes(template: dict) -> dict:
    resources = template.get("Resources", {})
    apis = {k: v for k, v in resources.items() if v.get("Type") == "AWS::Serverless::HttpApi"}
    routes, defaults = [], []
    for logical_id, resource in sorted(resources.items()):
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in resource.get("Properties", {}).get("Events", {}).values():
            if event.get("Type") != "HttpApi":
                continue
            props = event.get("Properties", {})
            api = apis.get((props.get("ApiId") or {}).get("Ref", ""), {})
            default_authorizer = api.get("Properties", {}).get("Auth", {}).get("DefaultAuthorizer")
            authorizer = props.get("Auth", {}).get("Authorizer", default_authorizer)
            if "Path" not in props and "Method" not in props:
                defaults.append(logical_id)
                continue
            routes.append({
                "method": str(props["Method"]).upper(),
                "path": props["Path"],
                "function": logical_id,
                "authorizer": authorizer not in (None, "NONE"),
            })
    if len(defaults) != 1:
        raise SystemExit(f"{len(defaults)} functions serve the $default route, want 1")
    return {"routes": routes, "default_function": defaults[0]}


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "template.yaml"
    template, matches = decode(str(path))
    if matches or template is None:
        raise SystemExit(f"{path} does not parse: {[str(m) for m in matches]}")
    print(json.dumps(gateway_routes(template), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
