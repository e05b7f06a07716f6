//! Minimal self-contained HTML pages (no external resources).

use axum::{
    http::{header, StatusCode},
    response::{IntoResponse, Response},
};

use crate::STAND_IN_NOTICE;

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#222}\
h1{font-size:1.4rem}ul{padding-left:1.2rem}li{margin:.3rem 0}.optional{color:#666}\
button{font-size:1rem;padding:.5rem 1.2rem;margin-right:.6rem}\
footer{margin-top:3rem;font-size:.8rem;color:#888;border-top:1px solid #ddd;padding-top:.6rem}";

pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A full page; `body` must already be escaped HTML.
pub(crate) fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>{STYLE}</style></head>\n<body><main>\n{body}\n</main>\n<footer>{STAND_IN_NOTICE}</footer></body></html>\n",
        title = escape(title),
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        html,
    )
        .into_response()
}

pub(crate) fn error_page(message: &str) -> Response {
    let body = format!(
        "<h1>Authorization error</h1>\n<p>{}</p>\n<p>You were not sent back to the application.</p>",
        escape(message)
    );
    page(StatusCode::BAD_REQUEST, "Authorization error", &body)
}
