//! The window is created when opened and destroyed when closed: a hidden webview costs hundreds
//! of MB (PLATFORM.md), and a tray app lives all day.

use tauri::{AppHandle, Manager, Runtime, WebviewUrl, WebviewWindowBuilder};

pub const MAIN: &str = "main";

pub fn open<R: Runtime>(app: &AppHandle<R>) {
    if let Some(existing) = app.get_webview_window(MAIN) {
        let _shown = existing.show();
        let _focused = existing.set_focus();
        return;
    }
    let built = WebviewWindowBuilder::new(app, MAIN, WebviewUrl::App("index.html".into()))
        .title("Grantkeeper")
        .inner_size(920.0, 680.0)
        .min_inner_size(560.0, 420.0)
        .build();
    if let Err(e) = built {
        tracing::warn!("could not open the window: {e}");
        crate::notify::show("Grantkeeper", &format!("Could not open the window: {e}"));
    }
}
