//! Notices when another process (the `gk` command line, a second desktop session) changes the
//! grant list or the clients, so the tray doesn't show a stale state ("expired" after `gk token`
//! refreshed the grant), and tells the user when one of the files cannot be read. Watches the two
//! folders, not the files: they are replaced by rename.

use crate::state::AppState;
use grantkeeper_core::Keeper;
use notify::{RecursiveMode, Watcher};
use std::path::PathBuf;
use std::time::Duration;
use tauri::{AppHandle, Manager, Runtime};

pub fn spawn<R: Runtime>(app: &AppHandle<R>) {
    let keeper = app.state::<AppState>().keeper.clone();
    let files: Vec<PathBuf> = vec![
        keeper.paths().metadata_file.clone(),
        keeper.paths().config_file.clone(),
    ];
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let watched = files.clone();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            if event.paths.iter().any(|p| watched.contains(p)) {
                let _closed_on_exit = tx.send(());
            }
        }
    });
    let watcher = match watcher {
        Ok(mut watcher) => {
            for file in &files {
                if let Some(dir) = file.parent() {
                    let watching = std::fs::create_dir_all(dir)
                        .map_err(notify::Error::io)
                        .and_then(|()| watcher.watch(dir, RecursiveMode::NonRecursive));
                    if let Err(e) = watching {
                        tracing::warn!("cannot watch {} for changes: {e}", dir.display());
                    }
                }
            }
            Some(watcher)
        }
        Err(e) => {
            tracing::warn!("cannot watch Grantkeeper's files for changes by other processes: {e}");
            None
        }
    };
    tauri::async_runtime::spawn(async move {
        // Keep the watcher alive as long as this task runs (the app's lifetime).
        let _watcher = watcher;
        let mut told = Vec::new();
        report_unreadable(&keeper, &mut told).await;
        while rx.recv().await.is_some() {
            // A write is a burst of events (temp file, rename): settle, then refresh once.
            tokio::time::sleep(Duration::from_millis(150)).await;
            while rx.try_recv().is_ok() {}
            keeper.files_changed();
            report_unreadable(&keeper, &mut told).await;
        }
    });
}

/// Tells the user once about each config or grant file that cannot be read: at start-up, and
/// when a file becomes unreadable later (a hand edit, another program). Grantkeeper leaves such
/// a file untouched; `told` holds the problems already reported.
async fn report_unreadable(keeper: &Keeper, told: &mut Vec<String>) {
    let problems: Vec<String> = [keeper.clients().await.err(), keeper.grants().await.err()]
        .into_iter()
        .flatten()
        .map(|e| e.to_string())
        .collect();
    for problem in problems.iter().filter(|p| !told.contains(p)) {
        tracing::warn!("{problem}");
        crate::notify::show("Grantkeeper cannot read a file", problem);
    }
    *told = problems;
}
