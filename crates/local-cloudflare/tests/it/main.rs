//! Integration tests: real HTTP against the server started in-process on 127.0.0.1:0.

mod api;
mod authorize;
mod binary;
mod common;
mod token;
