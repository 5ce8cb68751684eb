//! Network plumbing shared by sources and destinations: [`tls`], the rustls client configs of
//! database connections.

pub mod tls;
