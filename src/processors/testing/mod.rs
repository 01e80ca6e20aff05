//! Processors that prove and measure the runtime, not part of any money flow: `probe` (one output
//! per input, idempotent store rows), `tally` (keyed state and durable timers: its outputs carry
//! sequences derived from its state) and `copy` (the runtime benchmark's pass-through). The
//! exactly-once tests run them as `paystream process probe|tally`, the benchmark as `copy`; no
//! topology of a deployment declares them.

pub mod copy;
pub mod probe;
