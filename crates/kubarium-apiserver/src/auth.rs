//! Authentication: who is asking.
//!
//! Every route, health checks included, needs a credential; there is no anonymous access
//! (kube-apiserver's `--anonymous-auth=false`). A credential is a client certificate that
//! verified against the cluster CA after the handshake (its subject's common name is the user, its
//! organizations the groups, as kube-apiserver's x509 authenticator reads them), or a bearer
//! token: the admin's or a service account's.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::AUTHORIZATION;

use crate::{ApiServer, StatusError};

/// The authenticated identity, as kube-apiserver's `user.Info`: a name and groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// The user name, e.g. `kubarium-admin`.
    pub name: String,
    /// Groups, `system:authenticated` always among them.
    pub groups: Vec<String>,
}

impl UserInfo {
    /// The cluster administrator the kubeconfig names: a member of `system:masters`,
    /// the group upstream's authorizer lets do anything.
    pub fn admin() -> Self {
        Self {
            name: "kubarium-admin".to_owned(),
            groups: vec![
                "system:masters".to_owned(),
                "system:authenticated".to_owned(),
            ],
        }
    }
}

/// Maps credentials to identities.
#[derive(Clone, Default)]
pub struct Authenticator {
    tokens: Vec<(String, UserInfo)>,
    service_accounts: Option<crate::tokens::Signer>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a token, not even in debug output.
        f.debug_struct("Authenticator")
            .field("tokens", &self.tokens.len())
            .finish()
    }
}

impl Authenticator {
    /// An authenticator that accepts nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts `token` as a bearer token for `user`.
    pub fn with_token(mut self, token: impl Into<String>, user: UserInfo) -> Self {
        self.tokens.push((token.into(), user));
        self
    }

    /// Accepts service account tokens signed with `key` (and issues them with it).
    pub fn with_service_account_key(mut self, key: &[u8]) -> Self {
        self.service_accounts = Some(crate::tokens::Signer::new(key));
        self
    }

    /// The identity a bearer `token` stands for, if any.
    pub fn authenticate_token(&self, token: &str) -> Option<UserInfo> {
        if let Some((_, user)) = self
            .tokens
            .iter()
            .find(|(known, _)| constant_time_eq(known.as_bytes(), token.as_bytes()))
        {
            return Some(user.clone());
        }
        let now = k8s_openapi::jiff::Timestamp::now().as_second();
        self.service_accounts.as_ref()?.verify(token, now)
    }

    pub(crate) fn signer(&self) -> Option<&crate::tokens::Signer> {
        self.service_accounts.as_ref()
    }
}

/// Compares without returning early, so response timing says nothing about how much of a
/// guessed token was right. (Length is not secret: every token we issue has the same one.)
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The identity of the verified client certificate of the connection a request came on;
/// only [`crate::serve`] sets it, so no client can claim one by what it sends.
#[derive(Debug, Clone)]
pub(crate) struct CertificateUser(pub(crate) UserInfo);

/// The identity a client certificate stands for: the subject's common name as the user and
/// its organizations as groups, `None` without a common name. Only certificates that
/// verified against the client CA reach here.
pub(crate) fn certificate_user(der: &[u8]) -> Option<UserInfo> {
    let (name, mut groups) = subject(der)?;
    if name.is_empty() {
        return None;
    }
    groups.push("system:authenticated".to_owned());
    Some(UserInfo { name, groups })
}

/// The common name and organizations of a DER certificate's subject.
fn subject(der: &[u8]) -> Option<(String, Vec<String>)> {
    use yasna::{ASN1Result, BERReader, Tag};
    const COMMON_NAME: &[u64] = &[2, 5, 4, 3];
    const ORGANIZATION: &[u64] = &[2, 5, 4, 10];
    // An attribute's value: UTF8String, PrintableString and IA5String all read as UTF-8.
    let text = |r: BERReader<'_, '_>| -> ASN1Result<Option<String>> {
        Ok(String::from_utf8(r.read_tagged_der()?.value().to_vec()).ok())
    };
    let mut common_name = None;
    let mut organizations = Vec::new();
    yasna::parse_der(der, |r| {
        r.read_sequence(|r| {
            r.next().read_sequence(|r| {
                // version [0], serial, signature algorithm, issuer, validity: skipped.
                r.read_optional(|r| r.read_tagged(Tag::context(0), |r| r.read_der()))?;
                for _ in 0..4 {
                    r.next().read_der()?;
                }
                r.next().read_sequence_of(|r| {
                    r.read_set_of(|r| {
                        r.read_sequence(|r| {
                            let oid = r.next().read_oid()?;
                            let value = text(r.next())?;
                            match (oid.components().as_slice(), value) {
                                (COMMON_NAME, Some(v)) => common_name = Some(v),
                                (ORGANIZATION, Some(v)) => organizations.push(v),
                                _ => {}
                            }
                            Ok(())
                        })
                    })
                })?;
                // The public key, then unique ids and extensions.
                while r.read_optional(|r| r.read_der())?.is_some() {}
                Ok(())
            })?;
            // The signature algorithm and the signature.
            r.next().read_der()?;
            r.next().read_der()?;
            Ok(())
        })
    })
    .ok()?;
    Some((common_name.unwrap_or_default(), organizations))
}

/// Middleware: resolves the request's credential to a [`UserInfo`] request extension,
/// or answers 401 before any handler runs.
pub(crate) async fn authenticate(
    State(server): State<ApiServer>,
    mut request: Request,
    next: Next,
) -> Response {
    // The certificate first, then the token, as kube-apiserver's authenticator chain.
    let certified = request
        .extensions()
        .get::<CertificateUser>()
        .map(|certified| certified.0.clone());
    let user = certified.or_else(|| {
        request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(bearer_token)
            .and_then(|token| server.inner.authenticator.authenticate_token(token))
    });
    match user {
        Some(user) => {
            request.extensions_mut().insert(user);
            next.run(request).await
        }
        None => {
            tracing::debug!(uri = %request.uri(), "rejected a request without a valid credential");
            StatusError::unauthorized().into_response()
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive.
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use http::{Request, StatusCode};

    use super::*;
    use crate::testing;

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer"), None);
    }

    #[test]
    fn tokens_match_exactly() {
        let auth = Authenticator::new().with_token("secret", UserInfo::admin());
        assert_eq!(auth.authenticate_token("secret"), Some(UserInfo::admin()));
        assert_eq!(auth.authenticate_token("secreT"), None);
        assert_eq!(auth.authenticate_token("secret2"), None);
        assert_eq!(auth.authenticate_token(""), None);
        assert!(!format!("{auth:?}").contains("secret"));
    }

    fn certificate(names: &[(rcgen::DnType, &str)]) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::default();
        let mut subject = rcgen::DistinguishedName::new();
        for (kind, value) in names {
            subject.push(kind.clone(), *value);
        }
        params.distinguished_name = subject;
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn a_certificate_names_its_user_and_groups() {
        use rcgen::DnType::{CommonName, CountryName, OrganizationName};
        let der = certificate(&[
            (OrganizationName, "system:masters"),
            (CommonName, "jane"),
            (CountryName, "NL"),
        ]);
        assert_eq!(
            certificate_user(&der),
            Some(UserInfo {
                name: "jane".to_owned(),
                groups: vec![
                    "system:masters".to_owned(),
                    "system:authenticated".to_owned(),
                ],
            })
        );
        // No common name, no user; and what is not a certificate names no one.
        assert_eq!(
            certificate_user(&certificate(&[(OrganizationName, "dev")])),
            None
        );
        assert_eq!(certificate_user(b"not a certificate"), None);
        assert_eq!(certificate_user(&der[..der.len() / 2]), None);
    }

    #[tokio::test]
    async fn a_certified_connection_needs_no_token() {
        let mut request = Request::get("/version").body(Body::empty()).unwrap();
        request.extensions_mut().insert(CertificateUser(UserInfo {
            name: "jane".to_owned(),
            groups: vec!["system:authenticated".to_owned()],
        }));
        let (response, body) = testing::send(&testing::server(), request).await;
        assert_eq!(response.status(), StatusCode::OK, "{body}");
    }

    async fn status_without(credential: Option<&str>, uri: &str) -> (StatusCode, String) {
        let mut request = Request::get(uri);
        if let Some(credential) = credential {
            request = request.header("authorization", credential);
        }
        let (response, body) =
            testing::send(&testing::server(), request.body(Body::empty()).unwrap()).await;
        (response.status(), body)
    }

    #[tokio::test]
    async fn every_route_needs_a_credential() {
        for uri in [
            "/version",
            "/healthz",
            "/livez",
            "/readyz?verbose",
            "/no/such/path",
        ] {
            for credential in [None, Some("Bearer wrong"), Some("Basic dXNlcjpwdw==")] {
                let (code, body) = status_without(credential, uri).await;
                assert_eq!(code, StatusCode::UNAUTHORIZED, "{uri} with {credential:?}");
                assert_eq!(
                    body,
                    r#"{"apiVersion":"v1","kind":"Status","code":401,"message":"Unauthorized","metadata":{},"reason":"Unauthorized","status":"Failure"}"#
                );
            }
        }
    }
}
