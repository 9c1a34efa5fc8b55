//! What every request and response gets whatever its route: a deadline for
//! reading the body, and the security headers.
//!
//! The body deadline (`server.body_timeout_secs`, 60 s by default) runs from
//! the moment the request's head has arrived; a body still arriving then
//! ends with 408 `body_timeout` and the connection is closed, whichever
//! reader was waiting for it (a JSON extractor, the sync and CSV readers,
//! the idempotency middleware). The head has its own deadline, the
//! server's client request timeout (`server.head_timeout_secs`).
//!
//! Every response says `X-Content-Type-Options: nosniff`,
//! `Referrer-Policy: no-referrer` and `X-Frame-Options: DENY`. Responses
//! under `/api/` (every one of which may carry tokens or user data) add
//! `Cache-Control: no-store` and `Content-Security-Policy: default-src
//! 'none'; frame-ancestors 'none'`; the Swagger UI at `/docs/` runs its
//! scripts and styles, so it gets `frame-ancestors 'none'` alone. A header
//! a route set itself is left as it is.

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::ConnectionType;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{Error, HttpMessage, ResponseError, web};
use futures_util::Stream;
use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Puts the body of every request under the body deadline; see the module doc.
pub async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let timeout = req
        .app_data::<web::Data<AppState>>()
        .map(|state| Duration::from_secs(state.settings.server.body_timeout_secs));
    let payload = req.take_payload();
    let (Some(timeout), false) = (timeout, matches!(payload, Payload::None)) else {
        req.set_payload(payload);
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let expired = Rc::new(Cell::new(false));
    let deadline: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> = Box::pin(Deadline {
        inner: payload,
        sleep: Box::pin(tokio::time::sleep(timeout)),
        expired: expired.clone(),
    });
    req.set_payload(Payload::from(deadline));
    let outcome = next.call(req).await;
    if !expired.get() {
        return outcome.map(ServiceResponse::map_into_boxed_body);
    }
    let timed_out = ApiError::new(
        ErrorCode::BodyTimeout,
        format!(
            "the request body did not arrive within {} s",
            timeout.as_secs()
        ),
    );
    // Whatever the reader made of the broken body, the answer is the timeout.
    let (request, _) = outcome?.into_parts();
    let mut response = timed_out.error_response();
    response
        .head_mut()
        .set_connection_type(ConnectionType::Close);
    Ok(ServiceResponse::new(request, response))
}

/// A request body that fails once its deadline has passed.
struct Deadline {
    inner: Payload,
    sleep: Pin<Box<tokio::time::Sleep>>,
    expired: Rc<Cell<bool>>,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if !self.expired.get() {
            // What has arrived is delivered even past the deadline (a
            // handler may start reading late); only waiting for more ends.
            match Pin::new(&mut self.inner).poll_next(cx) {
                Poll::Pending => {}
                ready => return ready,
            }
            if self.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.expired.set(true);
        }
        Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the request body did not arrive in time",
        )))))
    }
}

const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
const NO_REFERRER: HeaderValue = HeaderValue::from_static("no-referrer");
const DENY: HeaderValue = HeaderValue::from_static("DENY");
const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");
const API_POLICY: HeaderValue =
    HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'");
const PAGE_POLICY: HeaderValue = HeaderValue::from_static("frame-ancestors 'none'");

/// Adds the security headers to every response; see the module doc.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let api = req.path().starts_with("/api/");
    let mut response = next.call(req).await?.map_into_boxed_body();
    let headers = response.headers_mut();
    add(headers, header::X_CONTENT_TYPE_OPTIONS, NOSNIFF);
    add(headers, header::REFERRER_POLICY, NO_REFERRER);
    add(headers, header::X_FRAME_OPTIONS, DENY);
    if api {
        add(headers, header::CACHE_CONTROL, NO_STORE);
        add(headers, header::CONTENT_SECURITY_POLICY, API_POLICY);
    } else {
        add(headers, header::CONTENT_SECURITY_POLICY, PAGE_POLICY);
    }
    Ok(response)
}

fn add(headers: &mut HeaderMap, name: HeaderName, value: HeaderValue) {
    if !headers.contains_key(&name) {
        headers.insert(name, value);
    }
}
