//! The payment processor's pure logic. So far: the state machine (`state_machine`); the processor
//! that applies it to commands, fraud decisions, provider responses and webhooks comes with issue 4.

pub mod state_machine;
