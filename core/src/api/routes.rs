//! The contract's route table: every operation, its path template, method and who may call it.

use crate::Error;
use http::Method;

/// One operation of the API: the unit a Lambda function wraps and the local server dispatches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Health,
    GetMe,
    UpdateMe,
    ListProducts,
    CreateProduct,
    GetProduct,
    UpdateProduct,
    AdjustStock,
    ListOrders,
    PlaceOrder,
    GetOrder,
    CancelOrder,
    PaymentWebhook,
    GetDailyReport,
    ComputeDailyReport,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    User,
    Admin,
}

use Access::{Admin, Public, User};
use Operation::*;

/// (path template, method, operation, access). `{id}` and `{date}` match one path segment.
pub const ROUTES: &[(&str, Method, Operation, Access)] = &[
    ("/v1/health", Method::GET, Health, Public),
    ("/v1/me", Method::GET, GetMe, User),
    ("/v1/me", Method::PATCH, UpdateMe, User),
    ("/v1/products", Method::GET, ListProducts, Public),
    ("/v1/products", Method::POST, CreateProduct, Admin),
    ("/v1/products/{id}", Method::GET, GetProduct, Public),
    ("/v1/products/{id}", Method::PATCH, UpdateProduct, Admin),
    ("/v1/products/{id}/stock", Method::POST, AdjustStock, Admin),
    ("/v1/orders", Method::GET, ListOrders, User),
    ("/v1/orders", Method::POST, PlaceOrder, User),
    ("/v1/orders/{id}", Method::GET, GetOrder, User),
    ("/v1/orders/{id}/cancel", Method::POST, CancelOrder, User),
    ("/v1/payments/webhook", Method::POST, PaymentWebhook, Public),
    ("/v1/reports/daily/{date}", Method::GET, GetDailyReport, Admin),
    ("/v1/reports/daily/{date}", Method::POST, ComputeDailyReport, Admin),
];

impl Operation {
    fn entry(self) -> &'static (&'static str, Method, Operation, Access) {
        // Every operation has exactly one row; a test below proves it.
        ROUTES.iter().find(|row| row.2 == self).unwrap_or(&ROUTES[0])
    }

    /// The path template, as logged and as API Gateway names the route.
    pub fn route(self) -> &'static str {
        self.entry().0
    }

    pub fn method(self) -> &'static Method {
        &self.entry().1
    }

    pub fn access(self) -> Access {
        self.entry().3
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

/// Finds the operation for `method` and `path`: 404 for an unknown path, 405 (with the allowed
/// methods) for a known path and another method.
pub fn resolve<'p>(method: &Method, path: &'p str) -> Result<(Operation, Option<&'p str>), Error> {
    let mut allowed: Vec<&str> = Vec::new();
    for (template, route_method, operation, _) in ROUTES {
        if let Some(param) = match_template(template, path) {
            if route_method == method {
                return Ok((*operation, param));
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

    #[test]
    fn every_operation_has_exactly_one_route() {
        for (_, _, operation, _) in ROUTES {
            assert_eq!(
                ROUTES.iter().filter(|row| row.2 == *operation).count(),
                1,
                "{operation:?}"
            );
            assert_eq!(operation.entry().2, *operation);
        }
        assert_eq!(ROUTES.len(), 15);
    }

    #[test]
    fn resolves_paths_with_parameters() {
        assert!(matches!(
            resolve(&Method::POST, "/v1/orders/ABC/cancel"),
            Ok((CancelOrder, Some("ABC")))
        ));
        assert!(matches!(
            resolve(&Method::GET, "/v1/reports/daily/2026-01-01"),
            Ok((GetDailyReport, Some("2026-01-01")))
        ));
        assert!(matches!(
            resolve(&Method::GET, "/v1/products"),
            Ok((ListProducts, None))
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
