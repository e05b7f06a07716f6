//! The clipboard, from Rust only (the webview gets no clipboard permission). A copied token is
//! marked sensitive for clipboard managers and cleared after a while if it is still there.

use arboard::Clipboard;
use grantkeeper_core::Secret;
use std::sync::Mutex;
use std::time::Duration;

/// How long a copied token stays on the clipboard. `GRANTKEEPER_CLIPBOARD_CLEAR_SECS` overrides.
pub fn clear_after() -> Duration {
    let secs = std::env::var("GRANTKEEPER_CLIPBOARD_CLEAR_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(60);
    Duration::from_secs(secs)
}

/// Keeps one `arboard::Clipboard` for the app's lifetime: on X11 the clipboard content belongs to
/// the process serving it, so dropping the handle could lose the copy.
#[derive(Default)]
pub struct TokenClipboard(Mutex<Option<Clipboard>>);

impl TokenClipboard {
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Clipboard) -> Result<T, arboard::Error>,
    ) -> Result<T, String> {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(
                Clipboard::new().map_err(|e| format!("the clipboard is not available ({e})"))?,
            );
        }
        let clipboard = slot.as_mut().ok_or("the clipboard is not available")?;
        f(clipboard).map_err(|e| format!("the clipboard refused the token ({e})"))
    }

    pub fn copy_secret(&self, token: &Secret) -> Result<(), String> {
        self.with(|c| {
            let set = c.set();
            #[cfg(target_os = "linux")]
            let set = {
                use arboard::SetExtLinux;
                set.exclude_from_history()
            };
            set.text(token.expose().to_string())
        })
    }

    /// Clears the clipboard if it still holds `token` (the user may have copied something else).
    pub fn clear_if_still(&self, token: &Secret) {
        let result = self.with(|c| {
            if c.get_text().ok().as_deref() == Some(token.expose()) {
                c.clear()
            } else {
                Ok(())
            }
        });
        if let Err(e) = result {
            tracing::warn!("could not clear the clipboard: {e}");
        }
    }
}
