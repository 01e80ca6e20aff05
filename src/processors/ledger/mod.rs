//! The ledger processor's pure logic. So far: double-entry postings for payment transitions and the
//! balance check (`postings`); the processor that writes them to the store comes with issue 4.

pub mod postings;
