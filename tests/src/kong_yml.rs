//! The tests' kong.yml: one service, `echo` (its upstream `{echo}`, which the gateway that
//! starts fills in), and its routes, each with a path, a filter chain and any YAML of its own.
//!
//! ```
//! use e2e_tests::kong_yml::{KongYml, Route};
//! let yml = KongYml::new()
//!     .route(Route::at("/").filter("redis-rate-limiting", r#"{"minute": 3}"#))
//!     .to_string();
//! assert!(yml.contains("      - name: redis-rate-limiting\n        config: {\"minute\": 3}\n"));
//! ```

use std::fmt;

#[derive(Debug, Clone, Default)]
pub struct KongYml {
    service_id: Option<String>,
    routes: Vec<Route>,
    tail: String,
}

#[derive(Debug, Clone, Default)]
pub struct Route {
    name: Option<String>,
    id: Option<String>,
    path: String,
    strip_path: Option<bool>,
    filters: Vec<(String, String)>,
    extra: String,
}

impl KongYml {
    pub fn new() -> Self {
        Self::default()
    }

    /// The service's id (Kong's `service.id`).
    pub fn service_id(mut self, id: &str) -> Self {
        self.service_id = Some(id.into());
        self
    }

    /// A route; one without a name is named `r<its index>`.
    pub fn route(mut self, route: Route) -> Self {
        self.routes.push(route);
        self
    }

    /// One route per `(path, filters)`, each filter `(name, config JSON)`, paths kept whole
    /// (`strip_path: false`).
    pub fn routes<N: AsRef<str>, C: AsRef<str>>(mut self, routes: &[(&str, Vec<(N, C)>)]) -> Self {
        for (path, filters) in routes {
            let mut route = Route::at(path).strip_path(false);
            for (name, config) in filters {
                route = route.filter(name.as_ref(), config.as_ref());
            }
            self.routes.push(route);
        }
        self
    }

    /// YAML after the service: `consumers:`, `plugins:` and the like.
    pub fn tail(mut self, yaml: &str) -> Self {
        self.tail.push_str(yaml);
        if !self.tail.ends_with('\n') {
            self.tail.push('\n');
        }
        self
    }
}

impl Route {
    /// A route on `path` (or several, as `/a, /b`).
    pub fn at(path: &str) -> Self {
        Self {
            path: path.into(),
            ..Self::default()
        }
    }

    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.into());
        self
    }

    pub fn id(mut self, id: &str) -> Self {
        self.id = Some(id.into());
        self
    }

    pub fn strip_path(mut self, strip: bool) -> Self {
        self.strip_path = Some(strip);
        self
    }

    /// A filter at the end of the route's chain; an empty `config` writes none.
    pub fn filter(mut self, name: &str, config: &str) -> Self {
        self.filters.push((name.into(), config.into()));
        self
    }

    /// Filters at the end of the route's chain, each `(name, config JSON)`.
    pub fn filters<N: AsRef<str>, C: AsRef<str>>(mut self, filters: &[(N, C)]) -> Self {
        for (name, config) in filters {
            self = self.filter(name.as_ref(), config.as_ref());
        }
        self
    }

    /// YAML of the route's own (`plugins:` and the like), indented as a route's fields.
    pub fn extra(mut self, yaml: &str) -> Self {
        self.extra.push_str(yaml);
        if !self.extra.ends_with('\n') {
            self.extra.push('\n');
        }
        self
    }
}

impl fmt::Display for KongYml {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "_format_version: \"3.0\"\nservices:\n- name: echo")?;
        if let Some(id) = &self.service_id {
            writeln!(f, "  id: {id}")?;
        }
        writeln!(f, "  url: http://{{echo}}\n  routes:")?;
        for (i, r) in self.routes.iter().enumerate() {
            match &r.name {
                Some(name) => writeln!(f, "  - name: {name}")?,
                None => writeln!(f, "  - name: r{i}")?,
            }
            if let Some(id) = &r.id {
                writeln!(f, "    id: {id}")?;
            }
            writeln!(f, "    paths: [{}]", r.path)?;
            if let Some(strip) = r.strip_path {
                writeln!(f, "    strip_path: {strip}")?;
            }
            if !r.filters.is_empty() {
                writeln!(f, "    filter_chains:\n    - filters:")?;
            }
            for (name, config) in &r.filters {
                writeln!(f, "      - name: {name}")?;
                if !config.is_empty() {
                    writeln!(f, "        config: {config}")?;
                }
            }
            f.write_str(&r.extra)?;
        }
        f.write_str(&self.tail)
    }
}
