//! The loader of Kong's declarative kong.yml (`redis_filters::kong_config`: the harness serves
//! what it reads, the CLI checks and renders it).

use crate::engine::Target;

pub const TARGET: Target = Target {
    name: "kong-yml",
    seeds: || {
        super::texts(&[
            "_format_version: \"3.0\"\nservices:\n- name: s\n  url: http://127.0.0.1:8080\n  routes:\n  - name: r\n    paths: [/a]\n    plugins:\n    - name: rate-limiting\n      config: {minute: 5, policy: redis}\n",
            "_format_version: \"3.0\"\nservices:\n- name: s\n  host: h\n  port: 80\n  protocol: http\n  filter_chains:\n  - filters:\n    - name: redis-session\n      config: '{\"secret\": \"s\"}'\n  routes:\n  - paths: [/]\n    strip_path: false\n",
            "_format_version: \"3.0\"\nconsumers:\n- username: u\n  custom_id: c\n  jwt_secrets:\n  - key: k\n    secret: s\n",
        ])
    },
    dictionary: &[
        "\n", ": ", "- ", "[", "]", "{", "}", "'", "\"", "&a", "*a", "!!binary", "~", "<<: *a",
    ],
    run: |input| {
        let _ = redis_filters::kong_config::KongConfig::parse(&super::text(input));
    },
};
