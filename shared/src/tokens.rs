//! Access tokens (docs/ARCHITECTURE.md §5): EdDSA JWTs, algorithm pinned, with `kid`, `iss`, `aud` and a
//! purpose claim, signed by a key the service generated and stores wrapped by KMS.

use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::keys::ServiceKeys;
use crate::policy::{Principal, Role};
use crate::secret::SecretString;

/// The only algorithm accepted.
pub const ALGORITHM: Algorithm = Algorithm::EdDSA;
/// Audience of admin access tokens.
pub const ACCESS_AUDIENCE: &str = "fig-admin";
/// Purpose claim of access tokens.
pub const ACCESS_PURPOSE: &str = "access";

/// Claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// User name.
    pub sub: String,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Expiry.
    pub exp: i64,
    /// Token id.
    pub jti: String,
    /// Purpose: always `access`.
    pub purpose: String,
    /// Role at issue time.
    pub role: Role,
    /// Password change required.
    pub pcr: bool,
    /// MFA enrolment required.
    #[serde(default)]
    pub mer: bool,
    /// Client filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cf: Option<String>,
    /// Allowed classifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cls: Option<Vec<String>>,
    /// Session (refresh-token family).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// Issues an access token for `principal`, valid for `ttl_seconds` from `now`.
pub async fn issue_access_token(
    keys: &ServiceKeys,
    issuer: &str,
    principal: &Principal,
    now: OffsetDateTime,
    ttl_seconds: i64,
) -> Result<SecretString> {
    let key = keys.signing_key().await?;
    let mut header = Header::new(ALGORITHM);
    header.kid = Some(key.kid.clone());
    let iat = now.unix_timestamp();
    let claims = AccessClaims {
        iss: issuer.to_owned(),
        aud: ACCESS_AUDIENCE.to_owned(),
        sub: principal.username.clone(),
        iat,
        nbf: iat,
        exp: iat + ttl_seconds,
        jti: ulid::Ulid::new().to_string(),
        purpose: ACCESS_PURPOSE.to_owned(),
        role: principal.role,
        pcr: principal.password_change_required,
        mer: principal.mfa_enrollment_required,
        cf: principal.client_filter.clone(),
        cls: principal.classifications.clone(),
        sid: principal.session.clone(),
    };
    jsonwebtoken::encode(&header, &claims, &key.key)
        .map(SecretString::new)
        .map_err(|_| Error::internal("token signing failed"))
}

/// Verifies an access token: signature with a known `kid`, EdDSA only, issuer, audience,
/// purpose, `exp` and `nbf` (no leeway beyond 30 s). Any failure is the same 401.
pub async fn verify_access_token(
    keys: &ServiceKeys,
    issuer: &str,
    token: &str,
    now: OffsetDateTime,
) -> Result<Principal> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| Error::unauthenticated())?;
    if header.alg != ALGORITHM {
        return Err(Error::unauthenticated());
    }
    let kid = header.kid.ok_or_else(Error::unauthenticated)?;
    let key = keys
        .verifying_key(&kid)
        .await?
        .ok_or_else(Error::unauthenticated)?;
    let mut validation = Validation::new(ALGORITHM);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[ACCESS_AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    validation.validate_nbf = true;
    validation.leeway = 30;
    // Expiry is checked against the clock we were given, below, as well as by the library.
    let data = jsonwebtoken::decode::<AccessClaims>(token, &key, &validation)
        .map_err(|_| Error::unauthenticated())?;
    let claims = data.claims;
    let t = now.unix_timestamp();
    if claims.purpose != ACCESS_PURPOSE || claims.exp <= t - 30 || claims.nbf > t + 30 {
        return Err(Error::unauthenticated());
    }
    Ok(Principal {
        username: claims.sub,
        role: claims.role,
        client_filter: claims.cf,
        classifications: claims.cls,
        password_change_required: claims.pcr,
        mfa_enrollment_required: claims.mer,
        session: claims.sid,
    })
}
