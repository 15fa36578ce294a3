//! What every worker of a gateway reads: the routes, the host profile, the upstreams it serves
//! and the stores shared across workers. Below both `gateway` (which builds it) and `worker`.

use crate::dispatch::CallStats;
use crate::profile::Profile;
use crate::router::Router;
use crate::shared::SharedStore;
use std::collections::HashMap;
use std::sync::Arc;

pub struct Shared {
    pub router: Router,
    pub profile: Profile,
    pub tunnels: Vec<String>,
    pub clusters: HashMap<String, String>,
    pub store: Arc<SharedStore>,
    pub calls: Arc<CallStats>,
    /// TLS to Redis for the tunnels (`--redis-ca`).
    pub tls: Arc<redis_tunnel::Tls>,
}
