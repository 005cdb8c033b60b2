//! A typed HTTP client for the tests: `app.as_(&owner).companies().create(&body)` sends the
//! request as `owner` and answers a [`Response`] holding the status, the headers and the
//! body; `.expect(StatusCode::CREATED)` then checks the status and gives the typed record
//! (or panics with the request and the problem body).
//!
//! - [`views`]: the records as the server shows them (`Company`, `Deal`, `Page<T>`, …).
//! - [`resources`]: one typed method per route (`companies()`, `deals().win(..)`, …).
//! - [`Client::send`] is the escape hatch: any method, path, body and headers.

#![allow(dead_code)] // a support API: not every field and accessor is used by a test yet

pub mod resources;
pub mod views;

use std::fmt;
use std::marker::PhantomData;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use views::*;

use crate::helpers::{TestApp, Workspace};

/// Whoever a request is sent as: anything holding a bearer token.
pub trait Caller {
    /// The access token (or API key) to send as `Authorization: Bearer`.
    fn bearer(&self) -> &str;
}

impl Caller for Workspace {
    fn bearer(&self) -> &str {
        &self.token
    }
}

impl Caller for String {
    fn bearer(&self) -> &str {
        self
    }
}

impl Caller for str {
    fn bearer(&self) -> &str {
        self
    }
}

impl<T: Caller + ?Sized> Caller for &T {
    fn bearer(&self) -> &str {
        (**self).bearer()
    }
}

impl TestApp {
    /// A client that sends every request as `caller`.
    pub fn as_(&self, caller: &(impl Caller + ?Sized)) -> Client<'_> {
        Client {
            app: self,
            token: Some(caller.bearer().to_owned()),
            headers: Vec::new(),
        }
    }

    /// A client that sends no credentials.
    pub fn anonymous(&self) -> Client<'_> {
        Client {
            app: self,
            token: None,
            headers: Vec::new(),
        }
    }
}

/// A request body.
#[derive(Debug, Clone)]
pub enum Body {
    /// No body at all.
    Empty,
    /// A JSON document (`Content-Type: application/json`).
    Json(Value),
    /// Any bytes with the given content type (CSV, form data, broken JSON, …).
    Raw {
        /// The `Content-Type` header.
        content_type: String,
        /// The bytes.
        bytes: Vec<u8>,
    },
}

impl Body {
    /// Raw bytes with a content type.
    pub fn raw(content_type: &str, bytes: impl Into<Vec<u8>>) -> Self {
        Self::Raw {
            content_type: content_type.to_owned(),
            bytes: bytes.into(),
        }
    }
}

/// Sends requests to one test server as one caller, with optional extra headers.
#[derive(Clone)]
pub struct Client<'a> {
    app: &'a TestApp,
    token: Option<String>,
    headers: Vec<(HeaderName, String)>,
}

impl<'a> Client<'a> {
    /// The same client, also sending `name: value` on every request.
    pub fn with_header(&self, name: &str, value: &str) -> Self {
        let mut next = self.clone();
        let name = HeaderName::from_bytes(name.as_bytes())
            .unwrap_or_else(|e| panic!("bad header name {name:?}: {e}"));
        next.headers.push((name, value.to_owned()));
        next
    }

    /// The same client, sending `If-Match: value` (e.g. `"\"3\""`, `"*"`).
    pub fn if_match(&self, value: &str) -> Self {
        self.with_header("if-match", value)
    }

    /// The same client, sending `If-Match` for `version` as the server's `ETag` spells it.
    pub fn if_version(&self, version: i64) -> Self {
        self.if_match(&format!("\"{version}\""))
    }

    /// Sends any request (the escape hatch for hostile input); the answer's body type is
    /// chosen by the caller (`Value` when in doubt).
    pub async fn send<T>(&self, method: Method, path: &str, body: Body) -> Response<T> {
        let request_line = format!("{method} {path}");
        let mut req = self
            .app
            .client
            .request(method, format!("{}{}", self.app.address, path));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        for (name, value) in &self.headers {
            req = req.header(name.clone(), value);
        }
        req = match body {
            Body::Empty => req,
            Body::Json(value) => req.json(&value),
            Body::Raw {
                content_type,
                bytes,
            } => req.header("content-type", content_type).body(bytes),
        };
        let res = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{request_line}: no answer: {e}"));
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("{request_line}: reading the body: {e}"));
        Response {
            request: request_line,
            status,
            headers,
            bytes: bytes.to_vec(),
            body: PhantomData,
        }
    }

    /// `GET path`.
    pub async fn get<T>(&self, path: &str) -> Response<T> {
        self.send(Method::GET, path, Body::Empty).await
    }

    /// `POST path` with a JSON body.
    pub async fn post<T>(&self, path: &str, body: &Value) -> Response<T> {
        self.send(Method::POST, path, Body::Json(body.clone()))
            .await
    }

    /// `POST path` without a body.
    pub async fn post_empty<T>(&self, path: &str) -> Response<T> {
        self.send(Method::POST, path, Body::Empty).await
    }

    /// `PATCH path` with a JSON body.
    pub async fn patch<T>(&self, path: &str, body: &Value) -> Response<T> {
        self.send(Method::PATCH, path, Body::Json(body.clone()))
            .await
    }

    /// `PUT path` with a JSON body.
    pub async fn put<T>(&self, path: &str, body: &Value) -> Response<T> {
        self.send(Method::PUT, path, Body::Json(body.clone())).await
    }

    /// `DELETE path`.
    pub async fn delete<T>(&self, path: &str) -> Response<T> {
        self.send(Method::DELETE, path, Body::Empty).await
    }
}

/// A CSV answer: its header and its records.
#[derive(Debug, Clone)]
pub struct CsvTable {
    /// The header record.
    pub header: csv::StringRecord,
    /// The data records.
    pub rows: Vec<csv::StringRecord>,
}

impl CsvTable {
    /// The position of column `name`; panics when there is none.
    #[track_caller]
    pub fn col(&self, name: &str) -> usize {
        self.header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name:?} in {:?}", self.header))
    }

    /// Column `name` of every row.
    #[track_caller]
    pub fn column(&self, name: &str) -> Vec<&str> {
        let col = self.col(name);
        self.rows.iter().map(|r| &r[col]).collect()
    }
}

/// The marker body of a CSV answer: read it with [`Response::expect_csv`].
#[derive(Debug)]
pub struct Csv;

/// The marker body of an answer that has none (`204 No Content`).
pub type NoContent = ();

/// An answer: status, headers and body, the body read as `T` once the status is checked.
#[must_use = "check the status: .expect(..), .expect_problem(..) or .expect_status(..)"]
pub struct Response<T> {
    /// `METHOD /path`, for messages.
    pub request: String,
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    bytes: Vec<u8>,
    body: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for Response<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}: {}", self.request, self.status, self.text())
    }
}

impl<T: DeserializeOwned> Response<T> {
    /// The body as `T` when the status is `expected`; panics with the request, the status
    /// and the body (a problem says why) otherwise, or when the body is not a `T`.
    #[track_caller]
    pub fn expect(self, expected: StatusCode) -> T {
        self.assert_status(expected);
        self.body()
    }

    /// The body as `T`, whatever the status (check the status first).
    #[track_caller]
    pub fn body(&self) -> T {
        self.parse()
    }
}

impl<T> Response<T> {
    /// The body read as `U`; an empty body reads as JSON `null`. Panics with the request and
    /// the body when it is not a `U`.
    #[track_caller]
    pub fn parse<U: DeserializeOwned>(&self) -> U {
        let text = if self.bytes.is_empty() {
            "null"
        } else {
            self.text()
        };
        serde_json::from_str(text).unwrap_or_else(|e| {
            panic!(
                "{} -> {}: the body is not a {}: {e}\n{}",
                self.request,
                self.status,
                std::any::type_name::<U>(),
                self.text()
            )
        })
    }

    /// Panics unless the status is `expected` (for an answer whose body does not matter).
    #[track_caller]
    pub fn assert_status(&self, expected: StatusCode) {
        assert_eq!(
            self.status,
            expected,
            "{}: expected {expected}, got {}: {}",
            self.request,
            self.status,
            self.text()
        );
    }

    /// The same answer, its messages naming `what` (e.g. the case of a table-driven test).
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.request = format!("{what}: {}", self.request);
        self
    }

    /// Checks the status only and keeps the answer (for its headers or raw body).
    #[track_caller]
    pub fn expect_status(self, expected: StatusCode) -> Self {
        self.assert_status(expected);
        self
    }

    /// The RFC 9457 problem when the status is `expected`: panics when the status differs,
    /// when the content type is not `application/problem+json`, or when the body's `status`
    /// is not the HTTP status.
    #[track_caller]
    pub fn expect_problem(self, expected: StatusCode) -> Problem {
        self.assert_status(expected);
        self.problem()
    }

    /// The body as an RFC 9457 problem, whatever the status (check the status first).
    #[track_caller]
    pub fn problem(&self) -> Problem {
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}: {} is not a problem: {}",
            self.request,
            self.status,
            self.text()
        );
        let problem: Problem = self.parse();
        assert_eq!(
            problem.status,
            self.status.as_u16(),
            "{}: the problem's status differs from the answer's",
            self.request
        );
        problem
    }

    /// The body as a CSV table when the status is `expected`; panics when the status
    /// differs, the content type is not `text/csv` or a record does not parse.
    #[track_caller]
    pub fn expect_csv(self, expected: StatusCode) -> CsvTable {
        self.assert_status(expected);
        let ctype = self.header("content-type").unwrap_or_default();
        assert!(
            ctype.starts_with("text/csv"),
            "{}: not CSV but {ctype:?}: {}",
            self.request,
            self.text()
        );
        let mut reader = csv::Reader::from_reader(self.bytes.as_slice());
        let header = reader
            .headers()
            .unwrap_or_else(|e| panic!("{}: no CSV header: {e}", self.request))
            .clone();
        let rows = reader
            .records()
            .map(|r| r.unwrap_or_else(|e| panic!("{}: bad CSV record: {e}", self.request)))
            .collect();
        CsvTable { header, rows }
    }

    /// The body as text when the status is `expected` (any content type).
    #[track_caller]
    pub fn expect_text(self, expected: StatusCode) -> String {
        self.assert_status(expected);
        self.text().to_owned()
    }

    /// The body as text (empty when there is none).
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.bytes).unwrap_or("<not UTF-8>")
    }

    /// The body's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The body as JSON; panics when it is not JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        self.parse()
    }

    /// A header as text, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v: &HeaderValue| {
            v.to_str()
                .unwrap_or_else(|e| panic!("{}: header {name} is not text: {e}", self.request))
        })
    }

    /// The `ETag` header.
    pub fn etag(&self) -> Option<&str> {
        self.header("etag")
    }

    /// The `Location` header.
    pub fn location(&self) -> Option<&str> {
        self.header("location")
    }

    /// The same answer with its body read as JSON (to compare whole bodies exactly).
    pub fn untyped(self) -> Response<Value> {
        Response {
            request: self.request,
            status: self.status,
            headers: self.headers,
            bytes: self.bytes,
            body: PhantomData,
        }
    }
}
