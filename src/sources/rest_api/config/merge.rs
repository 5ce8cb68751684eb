//! Dango's flat shorthand rewritten into dlt's shape, and dlt's merge of `resource_defaults`.

use serde_json::{Map, Value};

use super::{
    ENDPOINT_KEYS, FLAT_AUTH_FIELDS, FLAT_KEYS, RESOURCE_KEYS, as_obj, as_str, check_keys, err,
};
use crate::error::Result;

/// Rewrites the flat shorthand into dlt's shape.
pub(super) fn flat_to_dlt(top: &Map<String, Value>) -> Result<Value> {
    let mut allowed: Vec<String> = FLAT_KEYS.iter().map(|s| s.to_string()).collect();
    // Allowed in both forms (so it does not select the shorthand).
    allowed.push("schema_contract".into());
    for f in FLAT_AUTH_FIELDS {
        allowed.push(f.to_string());
        allowed.push(format!("{f}_env"));
    }
    let allowed_ref: Vec<&str> = allowed.iter().map(String::as_str).collect();
    check_keys(top, &allowed_ref, "")?;
    let mut client = Map::new();
    client.insert(
        "base_url".into(),
        top.get("base_url")
            .cloned()
            .ok_or_else(|| err("", "`base_url` is missing"))?,
    );
    if let Some(h) = top.get("headers") {
        client.insert("headers".into(), h.clone());
    }
    if let Some(p) = top.get("paginator") {
        client.insert("paginator".into(), p.clone());
    }
    let auth_type = match top.get("auth_type") {
        None | Some(Value::Null) => None,
        Some(v) => Some(as_str(v, ".auth_type")?),
    };
    let mut auth = Map::new();
    for f in FLAT_AUTH_FIELDS {
        let target = match *f {
            "api_key_name" => "name",
            "api_key_location" => "location",
            other => other,
        };
        if let Some(v) = top.get(*f) {
            auth.insert(target.to_string(), v.clone());
        }
        if let Some(v) = top.get(&format!("{f}_env")) {
            auth.insert(format!("{target}_env"), v.clone());
        }
    }
    match auth_type.as_deref() {
        None if auth.is_empty() => {}
        None => {
            return Err(err(
                "",
                "credential keys are set but `auth_type` is missing; set auth_type: bearer | api_key | basic | oauth2_client_credentials | custom_header | none",
            ));
        }
        Some(t) => {
            let t = if t == "basic" { "http_basic" } else { t };
            auth.insert("type".into(), Value::String(t.to_string()));
            client.insert("auth".into(), Value::Object(auth));
        }
    }
    let mut defaults = Map::new();
    defaults.insert(
        "write_disposition".into(),
        top.get("write_disposition")
            .cloned()
            .unwrap_or(Value::String("merge".into())),
    );
    defaults.insert(
        "primary_key".into(),
        top.get("primary_key")
            .cloned()
            .unwrap_or(Value::String("id".into())),
    );
    if let Some(m) = top.get("merge_key") {
        defaults.insert("merge_key".into(), m.clone());
    }
    if let Some(c) = top.get("schema_contract") {
        defaults.insert("schema_contract".into(), c.clone());
    }
    let mut endpoint_defaults = Map::new();
    if let Some(s) = top.get("data_selector") {
        endpoint_defaults.insert("data_selector".into(), s.clone());
    }
    if let Some(p) = top.get("params") {
        endpoint_defaults.insert("params".into(), p.clone());
    }
    if !endpoint_defaults.is_empty() {
        defaults.insert("endpoint".into(), Value::Object(endpoint_defaults));
    }
    // Endpoint entries may put endpoint keys next to resource keys.
    let endpoints = match top.get("endpoints") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        _ => {
            return Err(err(
                "",
                "`endpoints` must be a non-empty list of paths or endpoint mappings",
            ));
        }
    };
    let mut resources = Vec::new();
    for (i, e) in endpoints.iter().enumerate() {
        match e {
            Value::Object(m) if !m.contains_key("endpoint") => {
                let mut res = Map::new();
                let mut ep = Map::new();
                for (k, v) in m {
                    if ENDPOINT_KEYS.contains(&k.as_str()) {
                        ep.insert(k.clone(), v.clone());
                    } else if RESOURCE_KEYS.contains(&k.as_str()) {
                        res.insert(k.clone(), v.clone());
                    } else {
                        let mut allowed: Vec<&str> = RESOURCE_KEYS.to_vec();
                        allowed.extend(ENDPOINT_KEYS.iter().filter(|k| **k != "auth"));
                        return Err(err(
                            &format!(".endpoints[{i}]"),
                            format!("unknown key `{k}`; allowed keys: {}", allowed.join(", ")),
                        ));
                    }
                }
                if !res.contains_key("name") {
                    let path = ep.get("path").and_then(Value::as_str).ok_or_else(|| {
                        err(&format!(".endpoints[{i}]"), "needs a `name` or a `path`")
                    })?;
                    res.insert("name".into(), Value::String(name_from_path(path)));
                }
                if !ep.is_empty() {
                    res.insert("endpoint".into(), Value::Object(ep));
                }
                resources.push(Value::Object(res));
            }
            Value::String(path) if path.contains('/') => {
                let mut res = Map::new();
                res.insert("name".into(), Value::String(name_from_path(path)));
                res.insert("endpoint".into(), Value::String(path.clone()));
                resources.push(Value::Object(res));
            }
            other => resources.push(other.clone()),
        }
    }
    let mut out = Map::new();
    out.insert("client".into(), Value::Object(client));
    out.insert("resource_defaults".into(), Value::Object(defaults));
    out.insert("resources".into(), Value::Array(resources));
    Ok(Value::Object(out))
}

/// `/v1/orders/` → `orders` (a resource name from a path).
fn name_from_path(path: &str) -> String {
    path.trim_matches('/')
        .rsplit('/')
        .find(|s| !s.is_empty() && !s.contains('{'))
        .unwrap_or(path)
        .to_string()
}

/// dlt's merge: shallow, the resource wins; inside `endpoint` only `params` and `json` are
/// merged key by key; `columns` are deep-merged.
pub(super) fn merge_defaults(
    defaults: &Map<String, Value>,
    r: &Value,
    ctx: &str,
) -> Result<Map<String, Value>> {
    let mut res = match r {
        Value::String(name) => {
            let mut m = Map::new();
            m.insert("name".into(), Value::String(name.clone()));
            m
        }
        Value::Object(m) => m.clone(),
        other => {
            return Err(err(
                ctx,
                format!("expected a resource name or mapping, got `{other}`"),
            ));
        }
    };
    check_keys(&res, RESOURCE_KEYS, ctx)?;
    let name = res
        .get("name")
        .ok_or_else(|| err(ctx, "`name` is missing"))
        .and_then(|v| as_str(v, &format!("{ctx}.name")))?;
    let mut endpoint = match res.remove("endpoint") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::String(p)) => {
            let mut m = Map::new();
            m.insert("path".into(), Value::String(p));
            m
        }
        Some(Value::Object(m)) => m,
        Some(other) => {
            return Err(err(
                &format!("{ctx}.endpoint"),
                format!("expected a path or a mapping, got `{other}`"),
            ));
        }
    };
    for (k, dv) in defaults {
        match k.as_str() {
            "endpoint" => {
                let d = as_obj(dv, ".resource_defaults.endpoint")?;
                for (ek, ev) in d {
                    match (ek.as_str(), endpoint.get_mut(ek)) {
                        ("params" | "json", Some(Value::Object(mine))) => {
                            if let Value::Object(dm) = ev {
                                for (pk, pv) in dm {
                                    if !mine.contains_key(pk) {
                                        mine.insert(pk.clone(), pv.clone());
                                    }
                                }
                            }
                        }
                        (_, Some(_)) => {}
                        (_, None) => {
                            endpoint.insert(ek.clone(), ev.clone());
                        }
                    }
                }
            }
            "columns" => match (res.get_mut("columns"), dv) {
                (Some(Value::Object(mine)), Value::Object(dm)) => {
                    for (ck, cv) in dm {
                        match (mine.get_mut(ck), cv) {
                            (Some(Value::Object(mc)), Value::Object(dc)) => {
                                for (hk, hv) in dc {
                                    mc.entry(hk.clone()).or_insert_with(|| hv.clone());
                                }
                            }
                            (Some(_), _) => {}
                            (None, _) => {
                                mine.insert(ck.clone(), cv.clone());
                            }
                        }
                    }
                }
                (Some(_), _) => {}
                (None, _) => {
                    res.insert(k.clone(), dv.clone());
                }
            },
            _ => {
                if !res.contains_key(k) {
                    res.insert(k.clone(), dv.clone());
                }
            }
        }
    }
    if !endpoint.contains_key("path") {
        endpoint.insert("path".into(), Value::String(name));
    }
    res.insert("endpoint".into(), Value::Object(endpoint));
    Ok(res)
}
