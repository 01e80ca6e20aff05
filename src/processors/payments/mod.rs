//! The payment processor's pure logic. So far: the state machine (`state_machine`). The processor that
//! applies it to commands, fraud decisions, provider responses and webhooks is not built yet: it needs
//! the runtime to load each payment's state as a read-only view (see the README's status).

pub mod state_machine;
