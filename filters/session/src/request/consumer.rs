//! A live session authenticates the request: Kong's upstream consumer headers, the consumer
//! handed to the filters after this one, and the `Session-*` headers.

use super::*;

impl SessionRequest {
    /// The request carries a live session: it is authenticated as the session's consumer.
    pub(super) fn authenticate(&mut self, session: Session) -> Action {
        let host = self.filter.host.as_ref();
        let c = &session.consumer;
        host.set_request_header("x-consumer-id", Some(&c.id));
        host.set_request_header("x-consumer-custom-id", c.custom_id.as_deref());
        host.set_request_header("x-consumer-username", c.username.as_deref());
        let groups = (!c.groups.is_empty()).then(|| c.groups.join(", "));
        host.set_request_header("x-authenticated-groups", groups.as_deref());
        host.set_request_header("x-credential-identifier", c.credential.as_deref());
        host.set_request_header("x-anonymous-consumer", None);
        if let Err(e) = identity::hand_over(host, c) {
            host.log(LogLevel::Warn, &format!("[session] {e}"));
        }
        for (name, value) in self.session_headers(&session, true) {
            host.set_request_header(&name, Some(&value));
        }
        self.session = Some(session);
        Action::Continue
    }

    /// Kong's `request_headers` / `response_headers`: `Session-Id`, `Session-Audience`, ...
    pub(super) fn session_headers(
        &self,
        session: &Session,
        request: bool,
    ) -> Vec<(String, String)> {
        let config = &self.filter.config;
        let wanted = if request {
            &config.request_headers
        } else {
            &config.response_headers
        };
        let now = self.now_s;
        let left =
            |start: u64, timeout: u64| (timeout > 0).then(|| (start + timeout).saturating_sub(now));
        let idling = left(now, config.idling_timeout);
        let rolling = left(session.rolling_start, config.rolling_timeout);
        let absolute = left(session.auth_time, config.absolute_timeout);
        let timeout = [idling, rolling, absolute].into_iter().flatten().min();
        wanted
            .iter()
            .filter_map(|name| {
                let value = match *name {
                    "id" => self.sid.clone(),
                    "audience" => Some(config.audience.clone()),
                    "subject" => Some(session.subject.clone()),
                    "timeout" => timeout.map(|t| t.to_string()),
                    "idling-timeout" => idling.map(|t| t.to_string()),
                    "rolling-timeout" => rolling.map(|t| t.to_string()),
                    "absolute-timeout" => absolute.map(|t| t.to_string()),
                    _ => None,
                }?;
                let header = match *name {
                    "id" => "Session-Id".to_string(),
                    other => format!("Session-{}", title(other)),
                };
                Some((header, value))
            })
            .collect()
    }
}

/// `idling-timeout` -> `Idling-Timeout`.
fn title(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |c| {
                c.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect::<Vec<_>>()
        .join("-")
}
