//! Domain primitives shared by every processor: money and identifiers.

pub mod ids;
pub mod money;

pub use money::{Currency, MinorUnits, Money, MoneyError};
