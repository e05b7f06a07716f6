//! The keychain contract against the real OS keychain (Secret Service under a private D-Bus
//! session with gnome-keyring; `scripts/test.sh` provides it). Also checks that what one process
//! stores another reads, which is what catches keyring's silent in-memory fallback.

use grantkeeper_core::keychain::contract::check_store_contract;
use grantkeeper_core::{KeyringStore, Secret, SecretStore};
use std::process::Command;

const SERVICE: &str = "grantkeeper-contract-test";

fn require_secret_service() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "these tests need a Secret Service: run them through scripts/test.sh (or tests/e2e/desktop-session.sh -- cargo test)"
    );
}

#[test]
fn the_os_keychain_meets_the_store_contract() {
    require_secret_service();
    check_store_contract(&KeyringStore::new(SERVICE), "contract:");
}

#[test]
fn another_process_reads_what_we_store_and_we_read_what_it_stores() {
    require_secret_service();
    let store = KeyringStore::new(SERVICE);
    let key = "cross-process";
    store
        .set(key, &Secret::new("written-by-grantkeeper"))
        .expect("store");
    let out = Command::new("secret-tool")
        .args(["lookup", "service", SERVICE, "username", key])
        .output()
        .expect("secret-tool runs");
    assert!(
        out.status.success(),
        "secret-tool finds the item in the Secret Service"
    );
    assert!(
        out.stdout == b"written-by-grantkeeper",
        "secret-tool reads the same value"
    );

    let mut child = Command::new("secret-tool")
        .args([
            "store",
            "--label=grantkeeper test",
            "service",
            SERVICE,
            "username",
            "from-outside",
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("secret-tool store");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"written-by-secret-tool")
        .expect("write");
    assert!(child.wait().expect("wait").success());
    let read = store.get("from-outside").expect("read").expect("present");
    assert!(read.expose() == "written-by-secret-tool");

    store.delete(key).expect("cleanup");
    store.delete("from-outside").expect("cleanup");
}
