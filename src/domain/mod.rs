//! Domain primitives shared by every processor: money, identifiers and the card-number detector.

pub mod clock;
pub mod ids;
pub mod money;
pub mod pan;

pub use money::{Currency, MinorUnits, Money, MoneyError};
