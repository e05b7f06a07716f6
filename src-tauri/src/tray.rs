//! The tray icon and its menu: log in per client, copy/revoke per grant, open, quit.
//! The menu is rebuilt whenever grants or clients change.

use crate::actions;
use crate::menu_id::MenuId;
use crate::state::AppState;
use crate::window;
use tauri::menu::{Menu, MenuBuilder, MenuItem, SubmenuBuilder};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Runtime};

pub const TRAY_ID: &str = "grantkeeper";

pub fn create<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let menu = MenuBuilder::new(app)
        .item(&MenuItem::with_id(
            app,
            MenuId::Open.encode(),
            "Open Grantkeeper",
            true,
            None::<&str>,
        )?)
        .separator()
        .item(&MenuItem::with_id(
            app,
            MenuId::Quit.encode(),
            "Quit Grantkeeper",
            true,
            None::<&str>,
        )?)
        .build()?;
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

/// Rebuilds the menu from the current clients and grants (metadata only, no keychain).
pub async fn refresh<R: Runtime>(app: &AppHandle<R>) {
    let keeper = app.state::<AppState>().keeper.clone();
    let clients = keeper.clients().await;
    let grants = keeper.grants().await;
    let menu = build_menu(app, clients, grants);
    match menu {
        Ok(menu) => {
            if let Some(tray) = app.tray_by_id(TRAY_ID) {
                if let Err(e) = tray.set_menu(Some(menu)) {
                    tracing::warn!("could not update the tray menu: {e}");
                }
            }
        }
        Err(e) => tracing::warn!("could not build the tray menu: {e}"),
    }
}

fn build_menu<R: Runtime>(
    app: &AppHandle<R>,
    clients: grantkeeper_core::Result<Vec<grantkeeper_core::ClientConfig>>,
    grants: grantkeeper_core::Result<Vec<grantkeeper_core::GrantStatus>>,
) -> tauri::Result<Menu<R>> {
    let item = |id: MenuId, label: &str, enabled: bool| {
        MenuItem::with_id(app, id.encode(), label, enabled, None::<&str>)
    };
    let mut menu = MenuBuilder::new(app)
        .item(&item(MenuId::Open, "Open Grantkeeper", true)?)
        .separator();
    match clients {
        Ok(clients) if clients.is_empty() => {
            menu = menu.item(&item(
                MenuId::Inert("no-clients".into()),
                "No clients yet: open Grantkeeper to add one",
                false,
            )?);
        }
        Ok(clients) => {
            for c in clients {
                menu = menu.item(&item(
                    MenuId::Login(c.id.clone()),
                    &format!("Log in with {}", c.name),
                    true,
                )?);
            }
        }
        Err(e) => {
            menu = menu.item(&item(
                MenuId::Inert("config-error".into()),
                &format!("Client settings unreadable ({})", e.code()),
                false,
            )?);
        }
    }
    match grants {
        Ok(grants) if !grants.is_empty() => {
            menu = menu.separator();
            for g in grants {
                let label = format!("{} — {}: {}", g.identity, g.client_name, g.state_label);
                let sub = SubmenuBuilder::with_id(
                    app,
                    MenuId::Inert(format!("grant-{}", g.id)).encode(),
                    label,
                )
                .item(&item(MenuId::CopyToken(g.id.clone()), "Copy token", true)?)
                .item(&item(MenuId::Revoke(g.id.clone()), "Revoke", true)?)
                .build()?;
                menu = menu.item(&sub);
            }
        }
        Ok(_) => {}
        Err(e) => {
            menu = menu.separator().item(&item(
                MenuId::Inert("metadata-error".into()),
                &format!("Grant list unreadable ({})", e.code()),
                false,
            )?);
        }
    }
    menu.separator()
        .item(&item(MenuId::Quit, "Quit Grantkeeper", true)?)
        .build()
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
        MenuId::Login(client) => actions::from_tray(app, "Login", async move {
            actions::login(&handle, &client).await.map(|_| ())
        }),
        MenuId::CopyToken(grant) => actions::from_tray(app, "Copy token", async move {
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
        MenuId::Revoke(grant) => actions::from_tray(app, "Revoke", async move {
            actions::revoke(&handle, &grant).await?;
            crate::notify::show(
                "Grant revoked",
                "The provider revoked it and Grantkeeper forgot it.",
            );
            Ok(())
        }),
        MenuId::Inert(_) => {}
    }
}
