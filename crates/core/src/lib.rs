//! Grantkeeper's core: everything the tray app and the command line do, without any GUI.
//!
//! Start at [`Keeper`]: one async function per user action. See ARCHITECTURE.md for the map.

pub mod atomic_file;
pub mod clock;
pub mod config;
pub mod error;
pub mod flow;
pub mod keeper;
pub mod keychain;
pub mod loopback;
pub mod metadata;
pub mod oauth;
pub mod paths;
pub mod scopes;
pub mod secret;
pub mod status;
pub mod token_response;
pub mod tokens;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{AuthMethod, ClientConfig, Endpoints};
pub use error::{Error, Result};
pub use keeper::{ClientInput, Event, Keeper, LoginStart, PendingLoopback, Revoked};
pub use keychain::{Keychain, KeyringStore, MemoryStore, SecretStore};
pub use paths::Paths;
pub use secret::Secret;
pub use status::{GrantState, GrantStatus};
