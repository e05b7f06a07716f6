//! Callback URLs that arrive as program arguments.
//!
//! On Linux the desktop entry's `Exec=grantkeeper %u` hands the callback URL (authorization code,
//! state) over as an argument, and any local user can read a process's arguments (`ps`). A second
//! instance forwards the URL and exits within a fraction of a second; but an instance that will
//! become the tray app would carry the URL in its arguments all day, and so would whoever waits
//! for it (without a desktop environment `xdg-open` runs the handler in the foreground). So when
//! no instance is running, the process starts the tray app anew, detached, hands it the URLs
//! through a pipe (not the arguments, not the environment: `/proc/PID/environ` keeps a process's
//! initial environment), and exits at once.

use grantkeeper_core::config::SCHEMES;
use std::ffi::OsString;

/// Set (to "1") for the detached tray app: its callback URLs wait on stdin.
const ENV_HANDOFF: &str = "GRANTKEEPER_CALLBACKS_ON_STDIN";

/// More than any number of callback URLs a launcher passes at once.
const MAX_HANDOFF_BYTES: u64 = 1 << 20;

pub fn is_callback(arg: &str) -> bool {
    url::Url::parse(arg)
        .map(|u| SCHEMES.contains(&u.scheme()))
        .unwrap_or(false)
}

fn is_callback_arg(arg: &OsString) -> bool {
    arg.to_str().is_some_and(is_callback)
}

/// The app's only arguments are callback URLs, which are text; an argument that is not UTF-8
/// (a garbled link) would make the deep-link plugin panic and print it. Refuse it instead,
/// without echoing it (it may hold a code).
pub fn refuse_non_utf8_arguments() {
    if std::env::args_os().skip(1).any(|a| a.to_str().is_none()) {
        eprintln!(
            "Grantkeeper: an argument is not valid UTF-8 (a garbled link?); nothing was done."
        );
        std::process::exit(2);
    }
}

/// Call first thing in `main`, before any thread exists. Does not return when this process
/// hands its callbacks to a new tray app; returns when no hand-off was needed (or it failed, in
/// which case the URL simply stays in the arguments).
pub fn hide_callback_arguments(identifier: &str) {
    #[cfg(target_os = "linux")]
    {
        use std::io::Write;
        use std::os::unix::process::CommandExt;
        // Arguments that are not UTF-8 are not callbacks; they are passed on as they are.
        let (urls, rest): (Vec<OsString>, Vec<OsString>) =
            std::env::args_os().skip(1).partition(is_callback_arg);
        if urls.is_empty() || another_instance_running(identifier) {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let child = std::process::Command::new(exe)
            .args(rest)
            .env(ENV_HANDOFF, "1")
            .stdin(std::process::Stdio::piped())
            // Its own process group: signals meant for the launcher don't reach the tray app.
            .process_group(0)
            .spawn();
        let mut child = match child {
            Ok(child) => child,
            Err(e) => {
                eprintln!(
                    "Grantkeeper: could not start without the callback in its arguments ({e})"
                );
                return;
            }
        };
        let text: Vec<String> = urls
            .iter()
            .filter_map(|u| u.to_str().map(str::to_string))
            .collect();
        if let Some(mut stdin) = child.stdin.take() {
            if let Err(e) = stdin.write_all(text.join("\n").as_bytes()) {
                eprintln!("Grantkeeper: could not hand the callback to the tray app ({e})");
            }
        }
        std::process::exit(0);
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

/// The callback URLs this process was started with: handed over on stdin by the process that
/// started it (see [`hide_callback_arguments`]), else from the arguments. Call once, at the start
/// of `main`, while the process is still single-threaded: the hand-off flag is removed so
/// children don't inherit it.
pub fn take_callback_urls() -> Vec<String> {
    let mut urls: Vec<String> = std::env::args_os()
        .skip(1)
        .filter(is_callback_arg)
        .filter_map(|a| a.into_string().ok())
        .collect();
    if std::env::var_os(ENV_HANDOFF).is_some() {
        std::env::remove_var(ENV_HANDOFF);
        use std::io::Read;
        let mut held = String::new();
        if let Err(e) = std::io::stdin()
            .take(MAX_HANDOFF_BYTES)
            .read_to_string(&mut held)
        {
            eprintln!("Grantkeeper: could not read the callback handed over at start ({e})");
        }
        urls.extend(held.lines().filter(|l| is_callback(l)).map(str::to_string));
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
