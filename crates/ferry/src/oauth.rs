//! `ferry serve` as an OAuth protected resource: the flags that turn it on.

use crate::{Error, UsageError};
use clap::Args as ClapArgs;
use ferry_server::auth::{JwtVerifier, ProtectedResource};

/// Accept OAuth access tokens (JWTs) of an identity provider (see `ferry_server::auth`).
#[derive(ClapArgs, Debug, Default)]
pub struct OAuthArgs {
    /// The identity provider (issuer URL, as in the tokens' `iss`) whose access tokens are accepted.
    #[arg(long, env = "FERRY_OAUTH_ISSUER", requires = "oauth_audience", conflicts_with = "auth_tokens")]
    pub oauth_issuer: Option<String>,
    /// This server's public MCP URL: the audience tokens must be issued for (RFC 8707).
    #[arg(long, env = "FERRY_OAUTH_AUDIENCE", requires = "oauth_issuer")]
    pub oauth_audience: Option<String>,
    /// Where the issuer's keys are (default: found through its metadata).
    #[arg(long, env = "FERRY_OAUTH_JWKS_URI", requires = "oauth_issuer")]
    pub oauth_jwks_uri: Option<String>,
    /// A scope every request's token needs (repeatable; env: comma-separated).
    #[arg(long = "required-scope", env = "FERRY_REQUIRED_SCOPES", value_delimiter = ',', requires = "oauth_issuer")]
    pub required_scopes: Vec<String>,
}

impl OAuthArgs {
    /// The protected-resource setup the flags describe, if any.
    pub fn resource(&self) -> Result<Option<ProtectedResource>, Error> {
        let (Some(issuer), Some(audience)) = (&self.oauth_issuer, &self.oauth_audience) else { return Ok(None) };
        for (flag, url) in [("--oauth-issuer", issuer), ("--oauth-audience", audience)] {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(UsageError(format!("{flag} wants an http(s) URL, got '{url}'")).into());
            }
        }
        let mut verifier = JwtVerifier::new(issuer, audience);
        if let Some(uri) = &self.oauth_jwks_uri {
            verifier = verifier.jwks_uri(uri);
        }
        Ok(Some(
            ProtectedResource::new(audience, issuer)
                .verifier(verifier)
                .required_scopes(self.required_scopes.iter().cloned())
                .scopes_supported(self.required_scopes.iter().cloned()),
        ))
    }
}
