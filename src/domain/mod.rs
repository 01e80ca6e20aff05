//! Domain primitives shared by every layer: money, identifiers, the deployment's namespace, the clock, the card-number detector
//! and configuration problems. The bottom layer: it imports no other module of the crate.

pub mod accounts;
pub mod clock;
pub mod deployment;
pub mod ids;
pub mod money;
pub mod pan;
pub mod problem;

pub use money::{Currency, MinorUnits, Money, MoneyError};
