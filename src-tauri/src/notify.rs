//! Desktop notifications (org.freedesktop.Notifications on Linux). Sent off the async runtime:
//! a slow notification daemon must not stall anything. Never put a secret in one.

pub fn show(summary: &str, body: &str) {
    // Notification servers may render markup in the body (links, bold): text that came from a
    // provider or a URL must show as text.
    let summary = escape_markup(summary);
    let body = escape_markup(body);
    tauri::async_runtime::spawn_blocking(move || {
        let result = notify_rust::Notification::new()
            .appname("Grantkeeper")
            .summary(&summary)
            .body(&body)
            .icon("grantkeeper")
            .show();
        if let Err(e) = result {
            tracing::warn!("could not show a notification: {e}");
        }
    });
}

fn escape_markup(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    #[test]
    fn markup_is_shown_as_text() {
        assert_eq!(
            super::escape_markup("<b>x</b> & <a href=\"y\">"),
            "&lt;b&gt;x&lt;/b&gt; &amp; &lt;a href=\"y\"&gt;"
        );
    }
}
