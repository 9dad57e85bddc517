//! The contract's route table, written once. Each route is named as the Lambda function that serves
//! it (`create-order`), and that one name is used everywhere: the template's function, its
//! `events/` sample, its binary in `functions/src/bin/`, the log lines. The local server routes
//! over [`ROUTES`]; a function names its one route (`routes::CREATE_ORDER`), so its binary links
//! that route's endpoint and no other.

use super::endpoints::{self, Call, EndpointFuture};
use crate::{App, Error};
use http::Method;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    User,
    Admin,
}

/// What an [`Access::Admin`] route needs, as its 403 names it to a caller without it. Deployed,
/// the groups claim is whatever the identity provider puts there (Cognito: the user's groups).
pub const ADMIN_ROLE: &str = "the admin role (the group admin in the token's cognito:groups or groups claim)";

/// Runs a route's operation on a request that has passed the route's access check.
pub type Handler = for<'a> fn(&'a App, Call<'a>) -> EndpointFuture<'a>;

/// One route of the contract: its method and path, who may call it, and the function that serves it.
pub struct Route {
    /// The route's one name: its Lambda function, binary and `events/` file.
    pub function: &'static str,
    pub method: Method,
    /// The path template, as API Gateway names the route. `{id}` and `{date}` match one segment.
    pub path: &'static str,
    /// The template's one parameter (`id`, `date`), as API Gateway's `pathParameters` names it.
    pub path_parameter: Option<&'static str>,
    pub access: Access,
    pub(crate) handler: Handler,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({} {})", self.function, self.method, self.path)
    }
}

impl PartialEq for Route {
    fn eq(&self, other: &Self) -> bool {
        self.function == other.function
    }
}

impl Eq for Route {}

/// The function behind API Gateway's `$default` route, which answers every request the gateway
/// matched to no route ([`super::answer_unrouted`]). It serves no route of its own.
pub const UNROUTED_FUNCTION: &str = "reject-unknown-route";

macro_rules! routes {
    ($($constant:ident: $function:literal, $method:ident $path:literal, $parameter:expr, $access:ident => $handler:path;)*) => {
        $(
            pub static $constant: Route = Route {
                function: $function,
                method: Method::$method,
                path: $path,
                path_parameter: $parameter,
                access: Access::$access,
                handler: $handler,
            };
        )*
        /// Every route of the contract, in the contract's order.
        pub static ROUTES: &[&Route] = &[$(&$constant),*];
        /// Every route's method and path, without its handler: what the `$default` function
        /// routes by, so that its binary links no operation.
        static ROUTE_KEYS: &[(Method, &str)] = &[$((Method::$method, $path)),*];
    };
}

routes! {
    CHECK_HEALTH: "check-health", GET "/v1/health", None, Public => endpoints::check_health;
    GET_PROFILE: "get-profile", GET "/v1/me", None, User => endpoints::get_profile;
    UPDATE_PROFILE: "update-profile", PATCH "/v1/me", None, User => endpoints::update_profile;
    LIST_NOTIFICATIONS: "list-notifications", GET "/v1/me/notifications", None, User => endpoints::list_notifications;
    LIST_PRODUCTS: "list-products", GET "/v1/products", None, Public => endpoints::list_products;
    CREATE_PRODUCT: "create-product", POST "/v1/products", None, Admin => endpoints::create_product;
    GET_PRODUCT: "get-product", GET "/v1/products/{id}", Some("id"), Public => endpoints::get_product;
    UPDATE_PRODUCT: "update-product", PATCH "/v1/products/{id}", Some("id"), Admin => endpoints::update_product;
    ADJUST_STOCK: "adjust-stock", POST "/v1/products/{id}/stock", Some("id"), Admin => endpoints::adjust_stock;
    LIST_ORDERS: "list-orders", GET "/v1/orders", None, User => endpoints::list_orders;
    CREATE_ORDER: "create-order", POST "/v1/orders", None, User => endpoints::create_order;
    GET_ORDER: "get-order", GET "/v1/orders/{id}", Some("id"), User => endpoints::get_order;
    CANCEL_ORDER: "cancel-order", POST "/v1/orders/{id}/cancel", Some("id"), User => endpoints::cancel_order;
    PAYMENT_WEBHOOK: "payment-webhook", POST "/v1/payments/webhook", None, Public => endpoints::payment_webhook;
    GET_DAILY_REPORT: "get-daily-report", GET "/v1/reports/daily/{date}", Some("date"), Admin => endpoints::get_daily_report;
    COMPUTE_DAILY_REPORT: "compute-daily-report", POST "/v1/reports/daily/{date}", Some("date"), Admin => endpoints::compute_daily_report;
}

/// The secrets a route's operation uses. Deployed, its function is given these and no other, so
/// a function that is compromised or misconfigured cannot reveal a secret it never needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SecretUse {
    /// Verifies the payment provider's `Webhook-Signature`.
    pub webhook_secret: bool,
    /// Signs and checks list cursors.
    pub cursor_key: bool,
}

impl Route {
    /// The route named `function`, if there is one.
    pub fn named(function: &str) -> Option<&'static Route> {
        ROUTES.iter().copied().find(|route| route.function == function)
    }

    /// The secrets this route's operation uses: the webhook's its secret, the lists their cursors'
    /// key. Written here, beside the routes, so that a new list route is given its key.
    pub fn secrets(&self) -> SecretUse {
        let lists = [&LIST_NOTIFICATIONS, &LIST_PRODUCTS, &LIST_ORDERS];
        SecretUse {
            webhook_secret: self == &PAYMENT_WEBHOOK,
            cursor_key: lists.contains(&self),
        }
    }
}

/// A path template's one parameter, if it has one, when `path` matches it.
fn match_template<'p>(template: &str, path: &'p str) -> Option<Option<&'p str>> {
    let mut param = None;
    let mut actual = path.split('/');
    for expected in template.split('/') {
        let segment = actual.next()?;
        if expected.starts_with('{') {
            if segment.is_empty() {
                return None;
            }
            param = Some(segment);
        } else if expected != segment {
            return None;
        }
    }
    actual.next().is_none().then_some(param)
}

/// Finds the route for `method` and `path`: 404 for an unknown path, 405 (with the allowed
/// methods) for a known path and another method.
pub fn resolve<'p>(method: &Method, path: &'p str) -> Result<(&'static Route, Option<&'p str>), Error> {
    let rows = ROUTES.iter().map(|route| (&route.method, route.path, *route));
    find(rows, method, path)
}

/// The route key `method` and `path` match, answered as [`resolve`] answers; it touches no
/// handler, for the `$default` function.
pub fn resolve_key<'p>(method: &Method, path: &'p str) -> Result<(&'static str, Option<&'p str>), Error> {
    let rows = ROUTE_KEYS.iter().map(|(method, path)| (method, *path, *path));
    find(rows, method, path)
}

fn find<'p, T>(
    rows: impl Iterator<Item = (&'static Method, &'static str, T)>,
    method: &Method,
    path: &'p str,
) -> Result<(T, Option<&'p str>), Error> {
    let mut allowed: Vec<&str> = Vec::new();
    for (route_method, template, found) in rows {
        if let Some(param) = match_template(template, path) {
            if route_method == method {
                return Ok((found, param));
            }
            allowed.push(route_method.as_str());
        }
    }
    if allowed.is_empty() {
        Err(Error::NotFound(format!("there is no route {path}")))
    } else {
        Err(Error::MethodNotAllowed {
            allow: allowed.join(", "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_route_has_its_own_name_and_method_and_path() {
        let names: HashSet<_> = ROUTES.iter().map(|r| r.function).collect();
        let keys: HashSet<_> = ROUTES.iter().map(|r| (r.method.as_str(), r.path)).collect();
        assert_eq!(names.len(), ROUTES.len());
        assert_eq!(keys.len(), ROUTES.len());
        assert!(!names.contains(UNROUTED_FUNCTION));
        for route in ROUTES {
            assert_eq!(Route::named(route.function), Some(*route));
            let name_ok = route.function.bytes().all(|b| b.is_ascii_lowercase() || b == b'-');
            assert!(name_ok, "{route:?}: function names are kebab-case");
        }
    }

    #[test]
    fn each_path_parameter_is_the_one_its_template_names() {
        for route in ROUTES {
            let named = route
                .path
                .split('/')
                .find_map(|s| s.strip_prefix('{')?.strip_suffix('}'));
            assert_eq!(route.path_parameter, named, "{route:?}");
        }
    }

    #[test]
    fn the_route_keys_are_the_routes() {
        let keys: Vec<_> = ROUTES.iter().map(|r| (r.method.clone(), r.path)).collect();
        assert_eq!(keys, ROUTE_KEYS.to_vec());
    }

    #[test]
    fn resolves_paths_with_parameters() {
        assert!(matches!(
            resolve(&Method::POST, "/v1/orders/ABC/cancel"),
            Ok((route, Some("ABC"))) if *route == CANCEL_ORDER
        ));
        assert!(matches!(
            resolve(&Method::GET, "/v1/reports/daily/2026-01-01"),
            Ok((route, Some("2026-01-01"))) if *route == GET_DAILY_REPORT
        ));
        assert!(matches!(
            resolve(&Method::GET, "/v1/products"),
            Ok((route, None)) if *route == LIST_PRODUCTS
        ));
    }

    #[test]
    fn unknown_paths_are_404_and_other_methods_405() {
        for path in [
            "/",
            "/v1",
            "/v1/products/",
            "/v1/products//stock",
            "/v2/products",
            "/v1/orders/x/y",
            "/v1/productsx",
        ] {
            assert!(matches!(resolve(&Method::GET, path), Err(Error::NotFound(_))), "{path}");
        }
        match resolve(&Method::DELETE, "/v1/products") {
            Err(Error::MethodNotAllowed { allow }) => assert_eq!(allow, "GET, POST"),
            other => panic!("{other:?}"),
        }
    }
}
