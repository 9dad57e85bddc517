//! The API's routes, as the routes file lists them, and which one a request takes. API Gateway
//! picks the most specific route whose method and path template match; a request that matches
//! none goes to the `$default` route.

use serde::Deserialize;
use std::collections::BTreeMap;

/// What the routes file holds (written from template.yaml by a script).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoutesFile {
    routes: Vec<RouteEntry>,
    default_function: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteEntry {
    method: String,
    path: String,
    function: String,
    authorizer: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RoutesError {
    #[error("the routes file is not what is expected: {0}")]
    Unreadable(#[from] serde_json::Error),
    #[error("route {route_key:?}: {reason}")]
    BadRoute { route_key: String, reason: &'static str },
    #[error("route {0:?} is listed twice")]
    Duplicate(String),
    #[error("the default function must be named")]
    NoDefaultFunction,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Parameter(String),
}

#[derive(Debug, Clone)]
struct Route {
    /// Upper case, or `ANY`.
    method: String,
    route_key: String,
    segments: Vec<Segment>,
    function: String,
    protected: bool,
}

/// Every route, and the function of the `$default` route.
#[derive(Debug, Clone)]
pub struct RouteTable {
    routes: Vec<Route>,
    default_function: String,
}

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination<'a> {
    /// `GET /v1/products/{id}`, or `$default`.
    pub route_key: &'a str,
    pub function: &'a str,
    /// Whether the JWT authorizer guards the route.
    pub protected: bool,
    /// Percent-decoded; empty for the `$default` route.
    pub path_parameters: BTreeMap<String, String>,
}

pub const DEFAULT_ROUTE_KEY: &str = "$default";

impl RouteTable {
    pub fn from_json(text: &str) -> Result<Self, RoutesError> {
        let file: RoutesFile = serde_json::from_str(text)?;
        if file.default_function.trim().is_empty() {
            return Err(RoutesError::NoDefaultFunction);
        }
        let mut routes: Vec<Route> = Vec::with_capacity(file.routes.len());
        for entry in file.routes {
            let route = Route::parse(entry)?;
            if routes.iter().any(|known| known.route_key == route.route_key) {
                return Err(RoutesError::Duplicate(route.route_key));
            }
            routes.push(route);
        }
        Ok(RouteTable {
            routes,
            default_function: file.default_function,
        })
    }

    /// The route `method` and `path` (the raw, still percent-encoded path) take.
    pub fn find(&self, method: &str, path: &str) -> Destination<'_> {
        let Some(request_segments) = path.strip_prefix('/').map(|rest| rest.split('/').collect::<Vec<_>>()) else {
            return self.default_destination();
        };
        let best = self
            .routes
            .iter()
            .filter(|route| route.method == method || route.method == "ANY")
            .filter_map(|route| route.bind(&request_segments).map(|parameters| (route, parameters)))
            .max_by_key(|(route, _)| route.specificity());
        match best {
            Some((route, path_parameters)) => Destination {
                route_key: &route.route_key,
                function: &route.function,
                protected: route.protected,
                path_parameters,
            },
            None => self.default_destination(),
        }
    }

    /// The `$default` route is public in our template: an unknown path is 404 with or without a
    /// token, as on the local server.
    fn default_destination(&self) -> Destination<'_> {
        Destination {
            route_key: DEFAULT_ROUTE_KEY,
            function: &self.default_function,
            protected: false,
            path_parameters: BTreeMap::new(),
        }
    }
}

impl Route {
    fn parse(entry: RouteEntry) -> Result<Self, RoutesError> {
        let method = entry.method.to_ascii_uppercase();
        let route_key = format!("{method} {}", entry.path);
        let bad = |reason| RoutesError::BadRoute {
            route_key: route_key.clone(),
            reason,
        };
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(bad("the method must be a word such as GET, or ANY"));
        }
        if entry.function.trim().is_empty() {
            return Err(bad("no function is named"));
        }
        let segments = entry
            .path
            .strip_prefix('/')
            .ok_or_else(|| bad("the path must start with /"))?
            .split('/')
            .map(
                |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    // A greedy `{proxy+}` would need its own matching; our API has none.
                    Some(name) if name.ends_with('+') => Err(bad("greedy path variables are not supported")),
                    Some(name) if name.is_empty() || name.contains(['{', '}']) => {
                        Err(bad("a path variable needs a name"))
                    }
                    Some(name) => Ok(Segment::Parameter(name.to_string())),
                    None if segment.contains(['{', '}']) => Err(bad("a path variable must be a whole segment")),
                    None => Ok(Segment::Literal(segment.to_string())),
                },
            )
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Route {
            method,
            route_key,
            segments,
            function: entry.function,
            protected: entry.authorizer,
        })
    }

    /// The path parameters when the template matches the request's segments.
    fn bind(&self, request_segments: &[&str]) -> Option<BTreeMap<String, String>> {
        if request_segments.len() != self.segments.len() {
            return None;
        }
        let mut parameters = BTreeMap::new();
        for (template, actual) in self.segments.iter().zip(request_segments) {
            match template {
                Segment::Literal(literal) if literal == actual => {}
                Segment::Parameter(name) if !actual.is_empty() => {
                    parameters.insert(name.clone(), percent_decode(actual, false));
                }
                _ => return None,
            }
        }
        Some(parameters)
    }

    /// Larger is more specific: a literal segment beats a variable, the earlier the more it
    /// counts, and only then does a named method beat `ANY`.
    fn specificity(&self) -> (Vec<bool>, bool) {
        let literals = self
            .segments
            .iter()
            .map(|segment| matches!(segment, Segment::Literal(_)))
            .collect();
        (literals, self.method != "ANY")
    }
}

/// `%XX` escapes decoded (and `+` as a space when `plus_is_space`, as in a query string); an
/// escape that is not one stays as written, and bytes that are not UTF-8 become U+FFFD.
pub fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i..i + 3) {
            Some([b'%', high, low]) => hex_value(*high).zip(hex_value(*low)).map(|(h, l)| h * 16 + l),
            _ => None,
        };
        match (escaped, bytes[i]) {
            (Some(byte), _) => {
                decoded.push(byte);
                i += 3;
            }
            (None, b'+') if plus_is_space => {
                decoded.push(b' ');
                i += 1;
            }
            (None, byte) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|value| u8::try_from(value).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn table(routes: serde_json::Value) -> RouteTable {
        RouteTable::from_json(&json!({"routes": routes, "default_function": "RejectUnknownRouteFunction"}).to_string())
            .unwrap()
    }

    fn route(method: &str, path: &str, function: &str) -> serde_json::Value {
        json!({"method": method, "path": path, "function": function, "authorizer": false})
    }

    fn shop() -> RouteTable {
        table(json!([
            route("GET", "/v1/products", "ListProductsFunction"),
            route("GET", "/v1/products/{id}", "GetProductFunction"),
            route("PATCH", "/v1/products/{id}", "UpdateProductFunction"),
            route("POST", "/v1/products/{id}/stock", "AdjustStockFunction"),
            route("GET", "/v1/me", "GetProfileFunction"),
            {"method": "GET", "path": "/v1/orders/{id}", "function": "GetOrderFunction", "authorizer": true},
        ]))
    }

    #[test]
    fn a_template_matches_its_method_and_one_segment_per_variable() {
        let shop = shop();
        let found = shop.find("GET", "/v1/products/p1");
        assert_eq!(found.route_key, "GET /v1/products/{id}");
        assert_eq!(found.function, "GetProductFunction");
        assert!(!found.protected);
        assert_eq!(
            found.path_parameters,
            BTreeMap::from([("id".to_string(), "p1".to_string())])
        );

        assert_eq!(shop.find("PATCH", "/v1/products/p1").function, "UpdateProductFunction");
        assert_eq!(
            shop.find("POST", "/v1/products/p1/stock").function,
            "AdjustStockFunction"
        );
        assert_eq!(shop.find("GET", "/v1/products").function, "ListProductsFunction");
        assert!(shop.find("GET", "/v1/orders/o1").protected);
    }

    #[test]
    fn anything_else_goes_to_the_default_route() {
        let shop = shop();
        for (method, path) in [
            ("DELETE", "/v1/products/p1"), // known path, wrong method
            ("get", "/v1/products"),       // methods are case-sensitive on the wire
            ("GET", "/v1/products/"),      // a variable needs a non-empty segment
            ("GET", "/v1/products/p1/"),
            ("GET", "/v1/products/p1/stock"),
            ("GET", "/v1"),
            ("GET", "/"),
            ("GET", "/V1/me"),
            ("GET", "*"),
        ] {
            let found = shop.find(method, path);
            assert_eq!(found.route_key, DEFAULT_ROUTE_KEY, "{method} {path}");
            assert_eq!(found.function, "RejectUnknownRouteFunction");
            assert!(!found.protected);
            assert!(found.path_parameters.is_empty());
        }
    }

    #[test]
    fn the_most_specific_template_wins_whatever_the_order() {
        let routes = [
            route("GET", "/v1/{a}/{b}", "TwoVariables"),
            route("GET", "/v1/{a}/mine", "LiteralLast"),
            route("GET", "/v1/orders/{b}", "LiteralFirst"),
            route("GET", "/v1/orders/mine", "AllLiteral"),
            route("ANY", "/v1/orders/mine", "AnyMethod"),
        ];
        for rotation in 0..routes.len() {
            let mut listed = routes.to_vec();
            listed.rotate_left(rotation);
            let table = table(serde_json::Value::Array(listed));
            assert_eq!(table.find("GET", "/v1/orders/mine").function, "AllLiteral");
            assert_eq!(table.find("POST", "/v1/orders/mine").function, "AnyMethod");
            // An earlier literal segment counts for more than a later one.
            assert_eq!(table.find("GET", "/v1/orders/x").function, "LiteralFirst");
            assert_eq!(table.find("GET", "/v1/x/mine").function, "LiteralLast");
            assert_eq!(table.find("GET", "/v1/x/y").function, "TwoVariables");
        }
    }

    #[test]
    fn path_parameters_are_percent_decoded() {
        let shop = shop();
        let id = |path: &str| shop.find("GET", path).path_parameters["id"].clone();
        assert_eq!(id("/v1/products/caf%C3%A9%20au%2Blait+x"), "café au+lait+x");
        assert_eq!(id("/v1/products/100%25"), "100%");
        assert_eq!(id("/v1/products/%zz%"), "%zz%");
        assert_eq!(id("/v1/products/%FF"), "\u{FFFD}");
    }

    #[test]
    fn a_bad_routes_file_is_refused() {
        let parse = |routes: serde_json::Value| {
            RouteTable::from_json(&json!({"routes": routes, "default_function": "F"}).to_string())
        };
        for routes in [
            json!([route("GET", "v1/x", "F")]),
            json!([route("GET", "/v1/{proxy+}", "F")]),
            json!([route("GET", "/v1/{}", "F")]),
            json!([route("GET", "/v1/x{id}", "F")]),
            json!([route("GET", "/v1/x", "")]),
            json!([route("", "/v1/x", "F")]),
            json!([route("GET", "/v1/x", "F"), route("get", "/v1/x", "G")]),
            json!([{"method": "GET", "path": "/v1/x", "function": "F"}]),
        ] {
            assert!(parse(routes.clone()).is_err(), "{routes}");
        }
        assert!(RouteTable::from_json(r#"{"routes": [], "default_function": ""}"#).is_err());
        assert!(RouteTable::from_json("not json").is_err());
    }
}
