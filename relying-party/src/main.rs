//! `vouch-rp`: the relying party.
fn main() {}
