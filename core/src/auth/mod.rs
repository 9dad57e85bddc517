//! Who is calling. Deployed, API Gateway's JWT authorizer has verified the token and the function
//! reads the verified claims; on the local server we verify HS256 tokens ourselves. Both end in
//! the same [`Caller`]. The payment provider authenticates with a signature instead.

pub mod claims;
pub mod jwt;
pub mod webhook;

pub use claims::{Caller, ClaimsError};
pub use jwt::{Hs256Key, JwtError, TokenRules};

/// How this deployment learns who is calling.
#[derive(Debug, Clone)]
pub enum Authenticator {
    /// Verify `Authorization: Bearer` HS256 tokens with this key (the local server).
    Hs256(Hs256Key),
    /// Trust the claims API Gateway's JWT authorizer verified (Lambda).
    GatewayClaims,
}
