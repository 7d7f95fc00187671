//! Shared helpers for vouch's end-to-end and interop tests.
