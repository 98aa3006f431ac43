//! A small client of a node's admin HTTP API (`/health`, `/cluster/...`)
//! for the membership and health tests.
//!
//! Invariants:
//! - Every request has a time limit, so a node that stops answering fails
//!   the test instead of hanging it.
//! - Any status code is a result, not an error: the tests assert on 503s
//!   and 4xx answers as much as on 200s. Only a failure to get an answer at
//!   all is an `Err`.

use std::time::Duration;

use serde_json::Value;

/// Longest wait for one answer; a join waits for the new node to catch up.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// An answer: its status code and JSON body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(REQUEST_TIMEOUT))
        .build()
        .into()
}

fn answer(
    response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<Answer, String> {
    let mut response = response.map_err(|err| err.to_string())?;
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|err| err.to_string())?;
    let body = serde_json::from_str(&text).map_err(|err| format!("{err} in {text:?}"))?;
    Ok(Answer { status, body })
}

/// `GET base + path`.
pub fn get(base: &str, path: &str) -> Result<Answer, String> {
    answer(agent().get(format!("{base}{path}")).call())
}

/// `POST base + path` with a JSON body.
pub fn post(base: &str, path: &str, body: &str) -> Result<Answer, String> {
    answer(
        agent()
            .post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .send(body),
    )
}
