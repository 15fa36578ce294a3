//! A rate limit service for one benchmark (bench/peer.sh), not a product: Envoy's RLS API
//! (`envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit`) answered by the limitador
//! library (the engine of Kuadrant's Limitador) counting in Redis. It is what an Envoy user who
//! wants one limit across gateways runs instead of our filter: Envoy's native ratelimit filter
//! asks it about each request.
//!
//! One limit: `--limit` hits per `--seconds` for each value of the descriptor entry
//! `remote_address` (what the route action `remote_address` sends), in the domain `peer`.
//! Counting is limitador's async Redis storage: one script per check, exact across every
//! gateway that asks (no local cache).
//!
//! Usage: peer-rls --listen 127.0.0.1:PORT --redis redis://127.0.0.1:PORT/ --limit N --seconds S

use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::Code;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_server::{
    RateLimitService, RateLimitServiceServer,
};
use envoy_types::pb::envoy::service::ratelimit::v3::{RateLimitRequest, RateLimitResponse};
use limitador::limit::{Context, Expression, Limit, Namespace};
use limitador::storage::redis::AsyncRedisStorage;
use limitador::AsyncRateLimiter;
use std::collections::HashMap;

const DOMAIN: &str = "peer";
const ENTRY: &str = "remote_address";

struct Service {
    limiter: AsyncRateLimiter,
    namespace: Namespace,
}

#[tonic::async_trait]
impl RateLimitService for Service {
    async fn should_rate_limit(
        &self,
        request: tonic::Request<RateLimitRequest>,
    ) -> Result<tonic::Response<RateLimitResponse>, tonic::Status> {
        let request = request.into_inner();
        if request.domain != DOMAIN {
            return Err(tonic::Status::invalid_argument(format!(
                "unknown domain {:?}",
                request.domain
            )));
        }
        let hits = u64::from(request.hits_addend.max(1));
        let mut code = Code::Ok;
        for descriptor in &request.descriptors {
            let values: HashMap<String, String> = descriptor
                .entries
                .iter()
                .map(|e| (e.key.clone(), e.value.clone()))
                .collect();
            let ctx = Context::from(values);
            let checked = self
                .limiter
                .check_rate_limited_and_update(&self.namespace, &ctx, hits)
                .await
                .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
            if checked.limited {
                code = Code::OverLimit;
            }
        }
        Ok(tonic::Response::new(RateLimitResponse {
            overall_code: code as i32,
            ..RateLimitResponse::default()
        }))
    }
}

fn flag(args: &[String], name: &str) -> Result<String, String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .ok_or_else(|| format!("{name} is required (see the usage in src/main.rs)"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let listen: std::net::SocketAddr = flag(&args, "--listen")?
        .parse()
        .map_err(|e| format!("--listen: {e}"))?;
    let redis = flag(&args, "--redis")?;
    let limit: u64 = flag(&args, "--limit")?
        .parse()
        .map_err(|e| format!("--limit: {e}"))?;
    let seconds: u64 = flag(&args, "--seconds")?
        .parse()
        .map_err(|e| format!("--seconds: {e}"))?;
    let storage = AsyncRedisStorage::new(&redis)
        .await
        .map_err(|e| format!("redis {redis}: {e}"))?;
    let limiter = AsyncRateLimiter::new_with_storage(Box::new(storage));
    let variable = Expression::parse(ENTRY).map_err(|e| format!("{e:?}"))?;
    limiter.add_limit(Limit::new(DOMAIN, limit, seconds, [], [variable]));
    let service = Service {
        limiter,
        namespace: Namespace::from(DOMAIN),
    };
    println!("peer-rls listening on {listen}");
    tonic::transport::Server::builder()
        .add_service(RateLimitServiceServer::new(service))
        .serve(listen)
        .await
        .map_err(|e| e.to_string())
}
