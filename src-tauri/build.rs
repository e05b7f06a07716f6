// The config lives at the repository root (PLATFORM.md). Window commands are listed in the app
// manifest so that each needs an explicit permission in capabilities/ (deny by default).
fn main() {
    let attributes = tauri_build::Attributes::new()
        .config_path("../tauri.conf.json")
        .app_manifest(tauri_build::AppManifest::new().commands(&[
            "list_clients",
            "save_client",
            "remove_client",
            "list_grants",
            "start_login",
            "copy_token",
            "revoke_grant",
            "demo_endpoints",
        ]));
    if let Err(e) = tauri_build::try_build(attributes) {
        panic!("tauri build failed: {e:#}");
    }
}
