//! The tray icon and its menu: log in per client, copy/revoke per grant, open, quit.
//! The menu is described as plain data first (`model`), and rebuilt only when that changes: a
//! menu replaced while a user has it open closes under their pointer.

use crate::actions;
use crate::menu_id::MenuId;
use crate::state::AppState;
use crate::window;
use grantkeeper_core::{ClientConfig, GrantStatus};
use std::sync::Mutex;
use tauri::menu::{IsMenuItem, Menu, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Runtime};

pub const TRAY_ID: &str = "grantkeeper";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Item {
        id: MenuId,
        label: String,
        enabled: bool,
    },
    Submenu {
        id: MenuId,
        label: String,
        items: Vec<Entry>,
    },
    Separator,
}

fn item(id: MenuId, label: impl Into<String>) -> Entry {
    Entry::Item {
        id,
        label: label.into(),
        enabled: true,
    }
}

fn note(name: &str, label: impl Into<String>) -> Entry {
    Entry::Item {
        id: MenuId::Inert(name.into()),
        label: label.into(),
        enabled: false,
    }
}

/// What the menu shows for these clients and grants.
pub fn model(
    clients: grantkeeper_core::Result<Vec<ClientConfig>>,
    grants: grantkeeper_core::Result<Vec<GrantStatus>>,
) -> Vec<Entry> {
    let mut menu = vec![item(MenuId::Open, "Open Grantkeeper"), Entry::Separator];
    match clients {
        Ok(clients) if clients.is_empty() => menu.push(note(
            "no-clients",
            "No clients yet: open Grantkeeper to add one",
        )),
        Ok(clients) => menu.extend(clients.iter().map(|c| {
            item(
                MenuId::Login(c.id.clone()),
                format!("Log in with {}", c.name),
            )
        })),
        Err(e) => menu.push(note(
            "config-error",
            format!("Client settings unreadable ({})", e.code()),
        )),
    }
    match grants {
        Ok(grants) if grants.is_empty() => {}
        Ok(grants) => {
            menu.push(Entry::Separator);
            menu.extend(grants.iter().map(|g| Entry::Submenu {
                id: MenuId::Inert(format!("grant-{}", g.id)),
                label: format!("{} — {}: {}", g.identity, g.client_name, g.state_label),
                items: vec![
                    item(MenuId::CopyToken(g.id.clone()), "Copy token"),
                    item(MenuId::Revoke(g.id.clone()), "Revoke"),
                ],
            }));
        }
        Err(e) => {
            menu.push(Entry::Separator);
            menu.push(note(
                "metadata-error",
                format!("Grant list unreadable ({})", e.code()),
            ));
        }
    }
    menu.push(Entry::Separator);
    menu.push(item(MenuId::Quit, "Quit Grantkeeper"));
    menu
}

/// The model currently shown.
#[derive(Default)]
struct Shown(Mutex<Vec<Entry>>);

fn build_items<R: Runtime>(
    app: &AppHandle<R>,
    entries: &[Entry],
) -> tauri::Result<Vec<Box<dyn IsMenuItem<R>>>> {
    let mut out: Vec<Box<dyn IsMenuItem<R>>> = Vec::new();
    for entry in entries {
        match entry {
            Entry::Item { id, label, enabled } => {
                out.push(Box::new(MenuItem::with_id(
                    app,
                    id.encode(),
                    label,
                    *enabled,
                    None::<&str>,
                )?));
            }
            Entry::Separator => out.push(Box::new(PredefinedMenuItem::separator(app)?)),
            Entry::Submenu { id, label, items } => {
                let children = build_items(app, items)?;
                let refs: Vec<&dyn IsMenuItem<R>> = children.iter().map(|c| c.as_ref()).collect();
                out.push(Box::new(Submenu::with_id_and_items(
                    app,
                    id.encode(),
                    label,
                    true,
                    &refs,
                )?));
            }
        }
    }
    Ok(out)
}

fn build_menu<R: Runtime>(app: &AppHandle<R>, entries: &[Entry]) -> tauri::Result<Menu<R>> {
    let items = build_items(app, entries)?;
    let refs: Vec<&dyn IsMenuItem<R>> = items.iter().map(|c| c.as_ref()).collect();
    Menu::with_items(app, &refs)
}

pub fn create<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let initial = model(Ok(Vec::new()), Ok(Vec::new()));
    let menu = build_menu(app, &initial)?;
    app.manage(Shown(Mutex::new(initial)));
    let mut builder = TrayIconBuilder::with_id(TRAY_ID)
        .tooltip("Grantkeeper")
        .menu(&menu)
        .show_menu_on_left_click(true)
        .on_menu_event(|app, event| on_menu(app, event.id().as_ref()));
    if let Some(icon) = app.default_window_icon() {
        builder = builder.icon(icon.clone());
    }
    builder.build(app)?;
    Ok(())
}

/// Brings the menu up to date with the clients and grants (metadata only, no keychain).
pub async fn refresh<R: Runtime>(app: &AppHandle<R>) {
    let keeper = app.state::<AppState>().keeper.clone();
    let wanted = model(keeper.clients().await, keeper.grants().await);
    let shown = app.state::<Shown>();
    let mut current = shown.0.lock().unwrap_or_else(|e| e.into_inner());
    if *current == wanted {
        return;
    }
    let Some(tray) = app.tray_by_id(TRAY_ID) else {
        return;
    };
    match build_menu(app, &wanted).and_then(|menu| tray.set_menu(Some(menu))) {
        Ok(()) => *current = wanted,
        Err(e) => tracing::warn!("could not update the tray menu: {e}"),
    }
}

fn on_menu<R: Runtime>(app: &AppHandle<R>, id: &str) {
    let Some(id) = MenuId::decode(id) else {
        tracing::warn!("unknown tray menu id {id}");
        return;
    };
    let handle = app.clone();
    match id {
        MenuId::Open => window::open(app),
        MenuId::Quit => app.exit(0),
        MenuId::Login(client) => actions::from_tray("Login", async move {
            actions::login(&handle, &client).await.map(|_| ())
        }),
        MenuId::CopyToken(grant) => actions::from_tray("Copy token", async move {
            actions::copy_token(&handle, &grant).await?;
            crate::notify::show(
                "Token copied",
                &format!(
                    "It will be cleared from the clipboard in {} s.",
                    crate::clipboard::clear_after().as_secs()
                ),
            );
            Ok(())
        }),
        MenuId::Revoke(grant) => actions::from_tray("Revoke", async move {
            let revoked = actions::revoke(&handle, &grant).await?;
            crate::notify::show("Grant revoked", revoked.message());
            Ok(())
        }),
        MenuId::Inert(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(entries: &[Entry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| match e {
                Entry::Item { label, .. } => label.clone(),
                Entry::Submenu { label, items, .. } => {
                    format!("{label} [{}]", labels(items).join(", "))
                }
                Entry::Separator => "---".into(),
            })
            .collect()
    }

    #[test]
    fn an_empty_setup_points_to_the_window() {
        assert_eq!(
            labels(&model(Ok(vec![]), Ok(vec![]))),
            vec![
                "Open Grantkeeper",
                "---",
                "No clients yet: open Grantkeeper to add one",
                "---",
                "Quit Grantkeeper"
            ]
        );
    }

    #[test]
    fn unreadable_files_show_their_error_code_instead_of_entries() {
        let broken = || Err(grantkeeper_core::Error::UnknownClient("x".into()));
        let menu = labels(&model(broken(), Err(grantkeeper_core::Error::UnknownState)));
        assert!(
            menu.contains(&"Client settings unreadable (unknown_client)".to_string()),
            "{menu:?}"
        );
        assert!(
            menu.contains(&"Grant list unreadable (unknown_state)".to_string()),
            "{menu:?}"
        );
        assert_eq!(
            menu.last().map(String::as_str),
            Some("Quit Grantkeeper"),
            "Quit is always there"
        );
    }
}
