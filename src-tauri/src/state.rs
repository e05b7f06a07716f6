//! What the shell keeps for the app's lifetime.

use crate::clipboard::TokenClipboard;
use grantkeeper_core::loopback::Listeners;
use grantkeeper_core::Keeper;
use std::sync::Arc;

pub struct AppState {
    pub keeper: Arc<Keeper>,
    pub clipboard: TokenClipboard,
    pub listeners: Arc<Listeners>,
}
