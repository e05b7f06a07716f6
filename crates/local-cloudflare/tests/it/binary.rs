use std::{
    io::{BufRead as _, BufReader},
    process::{Command, Stdio},
};

/// Kills the child even when an assertion fails.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn binary_prints_one_ready_line_with_the_real_port() {
    let child = Command::new(env!("CARGO_BIN_EXE_local-cloudflare"))
        .args(["--demo", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let mut child = Child(child);
    let stdout = child.0.stdout.take().expect("stdout is piped");
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("a ready line");
        line
    })
    .await
    .expect("reader thread");
    let base = line
        .trim_end()
        .strip_prefix("local-cloudflare listening on ")
        .expect("the ready line has the documented prefix");
    assert!(
        base.starts_with("http://127.0.0.1:") && !base.ends_with(":0"),
        "real port printed: {base}"
    );
    let doc: serde_json::Value = reqwest::get(format!("{base}/.well-known/openid-configuration"))
        .await
        .expect("the printed URL answers")
        .json()
        .await
        .expect("discovery is JSON");
    assert_eq!(doc["issuer"], base);
}

#[test]
fn binary_without_clients_explains_what_to_pass() {
    let output = Command::new(env!("CARGO_BIN_EXE_local-cloudflare"))
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .expect("the binary runs");
    assert!(!output.status.success(), "no clients is an error");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--demo"),
        "the error suggests --demo: {stderr}"
    );
    assert!(output.stdout.is_empty(), "nothing on stdout unless ready");
}
