//! Turning a request path into the kind, namespace, name and subresource it addresses.

use brume_api::ResourceInfo;
use brume_api::resource;

use crate::ApiError;

/// What a resource URL addresses.
#[derive(Debug)]
pub struct Target {
    /// The kind.
    pub info: &'static ResourceInfo,
    /// The namespace in the URL; `None` for cluster-scoped kinds and all-namespace lists.
    pub namespace: Option<String>,
    /// The object name, for item URLs.
    pub name: Option<String>,
    /// The subresource (`status`, `scale`, ...).
    pub sub: Option<String>,
}

/// What a path under `/api` or `/apis` is.
#[derive(Debug)]
pub enum Route {
    /// `/apis/<group>`.
    Group(String),
    /// `/api/v1` or `/apis/<group>/<version>`.
    GroupVersion(String, String),
    /// A collection, an object or a subresource.
    Resource(Target),
}

fn unknown(path: &str) -> ApiError {
    ApiError::NotFound {
        message: format!(
            "the server could not find the requested resource ({path}); see /api and /apis for what is served"
        ),
        details: serde_json::json!({}),
    }
}

/// Parses a request path, or 404 when nothing is served there.
pub fn parse(path: &str) -> Result<Route, ApiError> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g] => return Ok(Route::Group(g.to_string())),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(unknown(path)),
    };
    let lookup = |plural: &str| resource::by_plural(group, version, plural);
    let target = |info, namespace: Option<&str>, name: Option<&str>, sub: Option<&str>| {
        Route::Resource(Target {
            info,
            namespace: namespace.map(String::from),
            name: name.map(String::from),
            sub: sub.map(String::from),
        })
    };
    let route = match rest {
        [] => Route::GroupVersion(group.to_string(), version.to_string()),
        ["namespaces", ns, plural, tail @ ..] if lookup(plural).is_some_and(|i| i.namespaced()) => {
            let info = lookup(plural).ok_or_else(|| unknown(path))?;
            match tail {
                [] => target(info, Some(ns), None, None),
                [name] => target(info, Some(ns), Some(name), None),
                [name, sub] => target(info, Some(ns), Some(name), Some(sub)),
                _ => return Err(unknown(path)),
            }
        }
        [plural, tail @ ..] => {
            let info = lookup(plural).ok_or_else(|| unknown(path))?;
            match tail {
                [] => target(info, None, None, None),
                [name] if !info.namespaced() => target(info, None, Some(name), None),
                [name, sub] if !info.namespaced() => target(info, None, Some(name), Some(sub)),
                _ => return Err(unknown(path)),
            }
        }
    };
    if let Route::Resource(t) = &route
        && let Some(sub) = &t.sub
        && !t.info.has_subresource(sub)
    {
        return Err(unknown(path));
    }
    Ok(route)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(p: &str) -> Target {
        match parse(p).unwrap() {
            Route::Resource(t) => t,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn paths_resolve_to_targets() {
        let t = resource("/api/v1/namespaces/default/pods/web/status");
        assert_eq!(
            (
                t.info.kind,
                t.namespace.as_deref(),
                t.name.as_deref(),
                t.sub.as_deref()
            ),
            ("Pod", Some("default"), Some("web"), Some("status"))
        );
        let t = resource("/api/v1/namespaces/kube-system");
        assert_eq!(
            (t.info.kind, t.name.as_deref()),
            ("Namespace", Some("kube-system"))
        );
        let t = resource("/api/v1/namespaces/x/status");
        assert_eq!(
            (t.info.kind, t.sub.as_deref()),
            ("Namespace", Some("status"))
        );
        let t = resource("/apis/apps/v1/deployments");
        assert_eq!((t.info.kind, t.namespace), ("Deployment", None));
        let t = resource("/apis/apps/v1/namespaces/a/deployments/web/scale");
        assert_eq!(t.sub.as_deref(), Some("scale"));
        assert!(
            matches!(parse("/api/v1").unwrap(), Route::GroupVersion(g, v) if g.is_empty() && v == "v1")
        );
        assert!(parse("/api/v1/widgets").is_err());
        assert!(parse("/api/v1/pods/web").is_err());
        assert!(parse("/api/v1/namespaces/a/pods/web/bogus").is_err());
    }
}
