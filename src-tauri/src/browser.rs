//! Opens the consent page in the system browser, and tells the user when that failed.
//!
//! On Linux `xdg-open` is run directly rather than detached (as the opener plugin does), so its
//! exit status is seen: a default browser that cannot start (e.g. one that refuses to run as
//! root) otherwise leaves the user waiting for a page that never comes.

use crate::notify;
use grantkeeper_core::Error;
use tauri::{AppHandle, Runtime};

pub fn open<R: Runtime>(app: &AppHandle<R>, url: &str) -> Result<(), Error> {
    #[cfg(target_os = "linux")]
    {
        let _ = app;
        let mut child = std::process::Command::new("xdg-open")
            .arg(url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| Error::Invalid(format!("Could not open the web browser: xdg-open did not start ({e}). Install xdg-utils and try again.")))?;
        // Without a desktop environment xdg-open waits for the browser; wait off the runtime.
        tauri::async_runtime::spawn_blocking(move || match child.wait() {
            Ok(status) if !status.success() => {
                tracing::warn!("xdg-open failed to open the consent page: {status}");
                notify::show(
                    "Could not open the web browser",
                    "The default browser did not start. Set one (e.g. xdg-settings set default-web-browser firefox.desktop) and log in again.",
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("could not wait for xdg-open: {e}"),
        });
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        use tauri_plugin_opener::OpenerExt;
        app.opener().open_url(url, None::<&str>).map_err(|e| {
            notify::show("Could not open the web browser", &e.to_string());
            Error::Invalid(format!(
                "Could not open the web browser ({e}). Set a default browser and try again."
            ))
        })
    }
}
