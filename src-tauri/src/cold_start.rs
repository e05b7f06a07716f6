//! Callback URLs that arrive as program arguments.
//!
//! On Linux the desktop entry's `Exec=grantkeeper %u` hands the callback URL (authorization code,
//! state) over as an argument, and any local user can read a process's arguments (`ps`). A second
//! instance forwards the URL and exits within a fraction of a second; but an instance that will
//! become the tray app would carry the URL in its arguments all day. So when no instance is
//! running, the process re-executes itself at once, with the URL moved into an environment
//! variable (readable only by the same user) and left out of the arguments.

use grantkeeper_core::config::SCHEMES;

/// Holds callback URLs across the re-execution; read once and removed at start-up.
const ENV_CALLBACKS: &str = "GRANTKEEPER_CALLBACK_URLS";

pub fn is_callback(arg: &str) -> bool {
    url::Url::parse(arg)
        .map(|u| SCHEMES.contains(&u.scheme()))
        .unwrap_or(false)
}

/// Call first thing in `main`, before any thread exists. Returns only if no re-execution was
/// needed (or it failed, in which case the URL simply stays in the arguments).
pub fn hide_callback_arguments(identifier: &str) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        let args: Vec<String> = std::env::args().skip(1).collect();
        let (urls, rest): (Vec<String>, Vec<String>) =
            args.into_iter().partition(|a| is_callback(a));
        if urls.is_empty() || another_instance_running(identifier) {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let err = std::process::Command::new(exe)
            .args(rest)
            .env(ENV_CALLBACKS, urls.join("\n"))
            .exec();
        eprintln!("Grantkeeper: could not restart without the callback in its arguments ({err})");
    }
    #[cfg(not(target_os = "linux"))]
    let _ = identifier;
}

#[cfg(target_os = "linux")]
fn another_instance_running(identifier: &str) -> bool {
    // The single-instance plugin owns this name while an instance runs.
    let name = format!("{identifier}.SingleInstance");
    let owned = || -> zbus::Result<bool> {
        let connection = zbus::blocking::Connection::session()?;
        let dbus = zbus::blocking::fdo::DBusProxy::new(&connection)?;
        Ok(dbus.name_has_owner(name.as_str().try_into()?)?)
    };
    // Unknown (no session bus): assume none, as the plugin will then make us the primary anyway.
    owned().unwrap_or(false)
}

/// The callback URLs this process was started with: from the environment after a
/// re-execution, else from the arguments. Call once, at the start of `main`: the variable is
/// removed (children must not inherit it) while the process is still single-threaded.
pub fn take_callback_urls() -> Vec<String> {
    let mut urls: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| is_callback(a))
        .collect();
    if let Ok(held) = std::env::var(ENV_CALLBACKS) {
        urls.extend(held.lines().filter(|l| is_callback(l)).map(str::to_string));
        std::env::remove_var(ENV_CALLBACKS);
    }
    urls
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_schemes_count_as_callbacks() {
        assert!(is_callback("grantkeeper://oauth/callback?code=a&state=b"));
        assert!(is_callback(
            "dev.grantkeeper.app:/oauth/callback?code=a&state=b"
        ));
        assert!(!is_callback("https://example.com"));
        assert!(!is_callback("--flag"));
    }
}
