//! Tray menu item ids, in one place: built by the tray, parsed by the menu handler.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MenuId {
    Open,
    Quit,
    Login(String),
    CopyToken(String),
    Revoke(String),
    /// A label or separator that does nothing.
    Inert(String),
}

impl MenuId {
    pub fn encode(&self) -> String {
        match self {
            MenuId::Open => "open".into(),
            MenuId::Quit => "quit".into(),
            MenuId::Login(client) => format!("login:{client}"),
            MenuId::CopyToken(grant) => format!("copy:{grant}"),
            MenuId::Revoke(grant) => format!("revoke:{grant}"),
            MenuId::Inert(name) => format!("inert:{name}"),
        }
    }

    pub fn decode(id: &str) -> Option<Self> {
        match id.split_once(':') {
            None if id == "open" => Some(MenuId::Open),
            None if id == "quit" => Some(MenuId::Quit),
            Some(("login", c)) => Some(MenuId::Login(c.into())),
            Some(("copy", g)) => Some(MenuId::CopyToken(g.into())),
            Some(("revoke", g)) => Some(MenuId::Revoke(g.into())),
            Some(("inert", n)) => Some(MenuId::Inert(n.into())),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for id in [
            MenuId::Open,
            MenuId::Quit,
            MenuId::Login("dns-manager".into()),
            MenuId::CopyToken("abc123".into()),
            MenuId::Revoke("abc123".into()),
        ] {
            assert_eq!(MenuId::decode(&id.encode()), Some(id));
        }
        assert_eq!(MenuId::decode("nonsense"), None);
    }
}
