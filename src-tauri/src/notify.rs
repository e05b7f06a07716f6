//! Desktop notifications (org.freedesktop.Notifications on Linux). Sent off the async runtime:
//! a slow notification daemon must not stall anything. Never put a secret in one.

pub fn show(summary: &str, body: &str) {
    let summary = summary.to_string();
    let body = body.to_string();
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
