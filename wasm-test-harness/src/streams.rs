//! The request state of one worker, lent to its guests during every callback. Each filter of a
//! request has its own context in its own guest; they all read and write the same request.

use crate::call_counts::{count, Counted};
use crate::headers::Headers;
use proxy_wasm_host::abi::v0_2_1::types::{BufferType, MapType, Status, StreamType};
use proxy_wasm_host::abi::v0_2_1::{
    Access, ContextId, GuestId, Invocation, LocalResponse, StreamState,
};
use proxy_wasm_host::{Buffer, HeaderMap};
use std::collections::HashMap;

pub type RequestId = u64;

/// What Kong and Envoy let a filter read with `get_property`.
#[derive(Debug, Clone, Default)]
pub struct Properties {
    pub route_id: String,
    pub service_id: String,
    pub route_name: String,
    pub service_name: String,
    pub source_address: String,
    pub destination_address: String,
    pub request_id: String,
}

#[derive(Debug, Default)]
pub struct RequestState {
    pub request_headers: Headers,
    pub request_body: Vec<u8>,
    pub response_headers: Headers,
    pub response_body: Vec<u8>,
    pub local_response: Option<LocalResponse<'static>>,
    /// The response is a local one (a filter's, or the harness's own error): Kong's engine
    /// gives it its own length rules (`local_length`).
    pub local_sent: bool,
    pub props: Properties,
    /// What the request's filters set with `set_property` (dotted path): Kong's
    /// `kong.ctx.shared.*`, Envoy's filter state; the filters after them read it back.
    pub set_props: HashMap<String, Vec<u8>>,
}

/// Something a guest did during a callback that the worker acts on after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Resumed(RequestId, GuestId, ContextId),
    LocalResponse(RequestId),
}

#[derive(Default)]
pub struct Streams {
    pub requests: HashMap<RequestId, RequestState>,
    pub contexts: HashMap<(GuestId, ContextId), RequestId>,
    pub events: Vec<Event>,
}

impl Streams {
    fn request_of(&mut self, call: &Invocation) -> Result<(RequestId, &mut RequestState), Status> {
        let id = *self
            .contexts
            .get(&(call.guest, call.context))
            .ok_or(Status::NotFound)?;
        let state = self.requests.get_mut(&id).ok_or(Status::NotFound)?;
        Ok((id, state))
    }
}

impl StreamState for Streams {
    fn header_map(
        &mut self,
        call: Invocation,
        _access: Access,
        map: MapType,
    ) -> Result<&mut dyn HeaderMap, Status> {
        let (_, r) = self.request_of(&call).map_err(|_| Status::BadArgument)?;
        match map {
            MapType::HttpRequestHeaders => Ok(&mut r.request_headers),
            MapType::HttpResponseHeaders => Ok(&mut r.response_headers),
            _ => Err(Status::BadArgument),
        }
    }

    fn buffer(
        &mut self,
        call: Invocation,
        access: Access,
        buffer: BufferType,
    ) -> Result<&mut dyn Buffer, Status> {
        count(match access {
            Access::Read => Counted::GetBufferBytes,
            Access::Write => Counted::SetBufferBytes,
        });
        let (_, r) = self.request_of(&call)?;
        match buffer {
            BufferType::HttpRequestBody => Ok(&mut r.request_body),
            BufferType::HttpResponseBody => Ok(&mut r.response_body),
            _ => Err(Status::NotFound),
        }
    }

    fn set_property(
        &mut self,
        call: Invocation,
        path: &[&[u8]],
        value: &[u8],
    ) -> Result<(), Status> {
        count(Counted::SetProperty);
        let (_, r) = self.request_of(&call)?;
        let key: Vec<String> = path
            .iter()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        r.set_props.insert(key.join("."), value.to_vec());
        Ok(())
    }

    fn continue_stream(&mut self, call: Invocation, _stream: StreamType) -> Result<(), Status> {
        count(Counted::ContinueStream);
        let (id, _) = self.request_of(&call)?;
        self.events
            .push(Event::Resumed(id, call.guest, call.context));
        Ok(())
    }

    fn close_stream(&mut self, call: Invocation, _stream: StreamType) -> Result<(), Status> {
        let (id, r) = self.request_of(&call)?;
        r.local_response = Some(LocalResponse::new(502));
        self.events.push(Event::LocalResponse(id));
        Ok(())
    }

    fn send_local_response(
        &mut self,
        call: Invocation,
        response: LocalResponse<'_>,
    ) -> Result<(), Status> {
        count(Counted::SendLocalResponse);
        let (id, r) = self.request_of(&call)?;
        r.local_response = Some(response.into_owned());
        self.events.push(Event::LocalResponse(id));
        Ok(())
    }

    fn property(
        &mut self,
        call: Invocation,
        path: &[&[u8]],
        out: &mut Vec<u8>,
    ) -> Result<(), Status> {
        count(Counted::GetProperty);
        let (_, r) = self.request_of(&call)?;
        let segments: Vec<&str> = path
            .iter()
            .map(|s| std::str::from_utf8(s).unwrap_or(""))
            .collect();
        if let Some(v) = r.set_props.get(&segments.join(".")) {
            out.extend_from_slice(v);
            return Ok(());
        }
        let value: Option<String> = match segments.as_slice() {
            ["kong", "route_id"] => Some(r.props.route_id.clone()),
            ["kong", "service_id"] => Some(r.props.service_id.clone()),
            ["kong", "route_name"] | ["route_name"] => Some(r.props.route_name.clone()),
            ["kong", "service_name"] | ["cluster_name"] => Some(r.props.service_name.clone()),
            ["source", "address"] | ["ngx", "remote_addr"] => Some(r.props.source_address.clone()),
            ["destination", "address"] => Some(r.props.destination_address.clone()),
            ["request", "id"] => Some(r.props.request_id.clone()),
            ["request", "path"] => r.request_headers.get_str(":path"),
            ["request", "url_path"] => r
                .request_headers
                .get_str(":path")
                .map(|p| p.split('?').next().unwrap_or("").to_string()),
            ["request", "method"] => r.request_headers.get_str(":method"),
            ["request", "host"] => r.request_headers.get_str(":authority"),
            ["request", "scheme"] => Some("http".into()),
            ["request", "protocol"] => Some("HTTP/1.1".into()),
            ["request", "headers", name] => r.request_headers.get_str(name),
            ["response", "code"] => {
                let code: i64 = r
                    .response_headers
                    .get_str(":status")
                    .and_then(|s| s.parse().ok())
                    .ok_or(Status::NotFound)?;
                out.extend_from_slice(&code.to_le_bytes());
                return Ok(());
            }
            _ => None,
        };
        match value {
            Some(v) => {
                out.extend_from_slice(v.as_bytes());
                Ok(())
            }
            None => Err(Status::NotFound),
        }
    }
}
