//! Tests of whole calls against a loopback mock server.
