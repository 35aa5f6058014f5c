//! Service account tokens: JWTs (HS256) the API server issues for `serviceaccounts/token`
//! and accepts as bearer tokens, identifying `system:serviceaccount:<namespace>:<name>`.
//!
//! Signed with a key of the cluster's own (kept by `kubarium-cluster` in its PKI folder), so
//! tokens survive restarts and no other cluster's tokens are accepted.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use serde_json::{Value, json};

use crate::UserInfo;

/// Who tokens say issued them (the in-cluster API server's URL, as upstream's default).
pub(crate) const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// Signs and verifies service account tokens.
#[derive(Clone)]
pub(crate) struct Signer {
    key: hmac::Key,
}

/// What a token grants.
pub(crate) struct Claims<'a> {
    pub(crate) namespace: &'a str,
    pub(crate) name: &'a str,
    pub(crate) uid: &'a str,
    pub(crate) audiences: &'a [String],
    pub(crate) issued_at: i64,
    pub(crate) expires_at: i64,
}

impl Signer {
    pub(crate) fn new(key: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
        }
    }

    /// A signed token for `claims`.
    pub(crate) fn issue(&self, claims: &Claims<'_>) -> String {
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": "HS256", "typ": "JWT"}).to_string());
        let body = json!({
            "iss": ISSUER,
            "aud": claims.audiences,
            "sub": format!("system:serviceaccount:{}:{}", claims.namespace, claims.name),
            "iat": claims.issued_at,
            "nbf": claims.issued_at,
            "exp": claims.expires_at,
            "kubernetes.io": {
                "namespace": claims.namespace,
                "serviceaccount": {"name": claims.name, "uid": claims.uid},
            },
        });
        let payload = URL_SAFE_NO_PAD.encode(body.to_string());
        let signing_input = format!("{header}.{payload}");
        let signature =
            URL_SAFE_NO_PAD.encode(hmac::sign(&self.key, signing_input.as_bytes()).as_ref());
        format!("{signing_input}.{signature}")
    }

    /// The identity a token carries, if it is ours, intact and current at `now`.
    pub(crate) fn verify(&self, token: &str, now: i64) -> Option<UserInfo> {
        let (signing_input, signature) = token.rsplit_once('.')?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        hmac::verify(&self.key, signing_input.as_bytes(), &signature).ok()?;
        let payload = signing_input.split('.').nth(1)?;
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        if claims["iss"] != ISSUER
            || claims["exp"].as_i64()? < now
            || claims["nbf"].as_i64().unwrap_or(0) > now + 60
        {
            return None;
        }
        let namespace = claims["kubernetes.io"]["namespace"].as_str()?;
        let name = claims["kubernetes.io"]["serviceaccount"]["name"].as_str()?;
        Some(UserInfo {
            name: format!("system:serviceaccount:{namespace}:{name}"),
            groups: vec![
                "system:serviceaccounts".to_owned(),
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated".to_owned(),
            ],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(expires_at: i64) -> Claims<'static> {
        Claims {
            namespace: "default",
            name: "bot",
            uid: "u",
            audiences: &[],
            issued_at: 100,
            expires_at,
        }
    }

    #[test]
    fn tokens_round_trip_and_expire() {
        let signer = Signer::new(b"0123456789abcdef0123456789abcdef");
        let token = signer.issue(&claims(1000));
        let user = signer.verify(&token, 500).unwrap();
        assert_eq!(user.name, "system:serviceaccount:default:bot");
        assert!(
            user.groups
                .contains(&"system:serviceaccounts:default".to_owned())
        );
        assert!(signer.verify(&token, 2000).is_none(), "expired");
        let other = Signer::new(b"another key, another cluster....");
        assert!(other.verify(&token, 500).is_none(), "another cluster's key");
        let mut tampered = token.clone();
        tampered.insert(tampered.find('.').unwrap() + 2, 'x');
        assert!(signer.verify(&tampered, 500).is_none(), "tampered");
        assert!(signer.verify("not.a.token", 500).is_none());
    }
}
