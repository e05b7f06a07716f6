//! Test-only endpoints under `/_local/`. These are NOT Cloudflare endpoints.

use std::{sync::Arc, time::Duration};

use axum::{extract::State, http::StatusCode, Json};
use serde::Deserialize;

use crate::state::{Shared, Stats, TokenFault};

pub(crate) async fn stats(State(shared): State<Arc<Shared>>) -> Json<Stats> {
    Json(shared.lock().stats.clone())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Faults {
    token_endpoint: TokenFault,
}

/// Makes the next token-endpoint request fail in the chosen way.
pub(crate) async fn faults(
    State(shared): State<Arc<Shared>>,
    Json(faults): Json<Faults>,
) -> StatusCode {
    shared.lock().next_token_fault = faults.token_endpoint;
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Advance {
    advance_secs: u64,
}

/// Moves the server clock forward so codes, consents and access tokens expire without waiting.
pub(crate) async fn clock(
    State(shared): State<Arc<Shared>>,
    Json(advance): Json<Advance>,
) -> StatusCode {
    shared
        .lock()
        .advance_clock(Duration::from_secs(advance.advance_secs));
    StatusCode::NO_CONTENT
}
