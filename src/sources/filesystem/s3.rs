//! The S3 client of a `filesystem` source: object_store's `aws` store, configured from dlt's
//! `AwsCredentials` keys in secrets (`aws_access_key_id`, `aws_secret_access_key`,
//! `aws_session_token`, `region_name`, `endpoint_url`) under `credentials`, along the source's
//! lookup chain. Secret values are registered for redaction and never appear in messages: an
//! error names the key that is missing, not a value.

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;

use crate::config::settings::Resolved;
use crate::error::{Error, Result};
use crate::sources::BuildContext;

/// One credentials key along the chain: `credentials.<key>`, then `<key>`.
fn lookup(cx: &BuildContext<'_>, source: &str, key: &str, secret: bool) -> Result<Option<String>> {
    let (found, _) = cx.settings.source_lookup(
        "filesystem",
        source,
        &[&["credentials", key], &[key]],
        secret,
    )?;
    Ok(found.as_ref().map(Resolved::as_string))
}

/// The S3 client for `bucket` of source `source`.
pub fn client(bucket: &str, source: &str, cx: &BuildContext<'_>) -> Result<Arc<dyn ObjectStore>> {
    let key_id = lookup(cx, source, "aws_access_key_id", true)?;
    let secret = lookup(cx, source, "aws_secret_access_key", true)?;
    let token = lookup(cx, source, "aws_session_token", true)?;
    let region = lookup(cx, source, "region_name", false)?;
    let endpoint = lookup(cx, source, "endpoint_url", false)?;
    let (Some(key_id), Some(secret)) = (key_id, secret) else {
        return Err(Error::Config(format!(
            "source `{source}`: no S3 credentials for s3://{bucket}. Set aws_access_key_id and aws_secret_access_key under [sources.filesystem.credentials] or [sources.{source}.credentials] in .dlt/secrets.toml (or SOURCES__FILESYSTEM__CREDENTIALS__AWS_ACCESS_KEY_ID ...)"
        )));
    };
    let mut b = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_access_key_id(key_id)
        .with_secret_access_key(secret)
        .with_region(region.unwrap_or_else(|| "us-east-1".into()))
        // A few quick retries of transient failures, not object_store's three minutes.
        .with_retry(object_store::RetryConfig {
            backoff: object_store::BackoffConfig::default(),
            max_retries: 3,
            retry_timeout: std::time::Duration::from_secs(30),
        });
    if let Some(t) = token {
        b = b.with_token(t);
    }
    if let Some(ep) = endpoint {
        b = b
            .with_allow_http(ep.starts_with("http://"))
            .with_virtual_hosted_style_request(false)
            .with_endpoint(ep);
    }
    let store = b.build().map_err(|e| {
        Error::Config(format!(
            "source `{source}`: cannot configure S3 for s3://{bucket}: {e}. Check endpoint_url and region_name in [sources.filesystem.credentials]"
        ))
    })?;
    Ok(Arc::new(store))
}
