//! Money as integer minor units plus an ISO 4217 currency.
//!
//! Arithmetic is checked and never mixes currencies; there is no float anywhere. Units change only at
//! the edges (parsing a provider's decimal string, say), never inside a processor.

use std::fmt;

/// An ISO 4217 currency that has a defined minor-unit exponent (so not XAU, XDR and the like).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency {
    iso: iso_currency::Currency,
    exponent: u8,
}

impl Currency {
    /// Looks up an alphabetic code such as `INR`. Codes are upper case, as ISO 4217 writes them.
    pub fn from_code(code: &str) -> Result<Self, MoneyError> {
        let iso = iso_currency::Currency::from_code(code)
            .ok_or_else(|| MoneyError::UnknownCurrency(code.to_owned()))?;
        let exponent = iso
            .exponent()
            .and_then(|e| u8::try_from(e).ok())
            .ok_or_else(|| MoneyError::NoMinorUnit(code.to_owned()))?;
        Ok(Self { iso, exponent })
    }

    pub fn code(&self) -> &'static str {
        self.iso.code()
    }

    /// Number of decimal digits of the minor unit: 2 for INR, 0 for JPY, 3 for KWD.
    pub fn exponent(&self) -> u8 {
        self.exponent
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(code: String) -> Result<Self, MoneyError> {
        Currency::from_code(&code)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.code().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A signed amount in minor units. Only checked operations exist: an overflow is an error, not a wrap.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct MinorUnits(i64);

impl MinorUnits {
    pub const ZERO: MinorUnits = MinorUnits(0);

    pub const fn new(value: i64) -> Self {
        Self(value)
    }

    pub const fn get(self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: MinorUnits) -> Result<MinorUnits, MoneyError> {
        self.0
            .checked_add(other.0)
            .map(MinorUnits)
            .ok_or(MoneyError::Overflow)
    }

    pub fn checked_sub(self, other: MinorUnits) -> Result<MinorUnits, MoneyError> {
        self.0
            .checked_sub(other.0)
            .map(MinorUnits)
            .ok_or(MoneyError::Overflow)
    }

    pub fn is_positive(self) -> bool {
        self.0 > 0
    }
}

/// An amount with its currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Money {
    pub amount: MinorUnits,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount: i64, currency: Currency) -> Self {
        Self {
            amount: MinorUnits(amount),
            currency,
        }
    }

    /// Parses the wire form used by every schema: a minor-unit long and an ISO 4217 code.
    pub fn from_wire(amount_minor: i64, currency: &str) -> Result<Self, MoneyError> {
        Ok(Self::new(amount_minor, Currency::from_code(currency)?))
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        Ok(Money {
            amount: self.amount.checked_add(other.amount)?,
            currency: self.currency,
        })
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        Ok(Money {
            amount: self.amount.checked_sub(other.amount)?,
            currency: self.currency,
        })
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency.code(),
                right: other.currency.code(),
            })
        }
    }
}

impl fmt::Display for Money {
    /// Renders the major-unit decimal form (`1234.50 INR`) with integer arithmetic only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exponent = u32::from(self.currency.exponent());
        let raw = self.amount.get();
        let sign = if raw < 0 { "-" } else { "" };
        let abs = raw.unsigned_abs();
        match 10u64.checked_pow(exponent) {
            Some(scale) if exponent > 0 => {
                let width = usize::from(self.currency.exponent());
                write!(
                    f,
                    "{sign}{}.{:0width$} {}",
                    abs / scale,
                    abs % scale,
                    self.currency
                )
            }
            _ => write!(f, "{sign}{abs} {}", self.currency),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("unknown ISO 4217 currency code '{0}': use an upper-case alphabetic code such as INR or USD")]
    UnknownCurrency(String),
    #[error("currency '{0}' has no minor unit (a metal or fund code): use a national currency")]
    NoMinorUnit(String),
    #[error("amount overflows 64-bit minor units")]
    Overflow,
    #[error("currency mismatch: {left} and {right} cannot be combined")]
    CurrencyMismatch {
        left: &'static str,
        right: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponents_follow_iso_4217() {
        let cases = [("INR", 2), ("USD", 2), ("JPY", 0), ("KWD", 3), ("EUR", 2)];
        for (code, exponent) in cases {
            assert_eq!(
                Currency::from_code(code).unwrap().exponent(),
                exponent,
                "{code}"
            );
        }
    }

    #[test]
    fn unknown_and_unitless_currencies_are_rejected() {
        assert!(matches!(
            Currency::from_code("ABC"),
            Err(MoneyError::UnknownCurrency(_))
        ));
        assert!(matches!(
            Currency::from_code("inr"),
            Err(MoneyError::UnknownCurrency(_))
        ));
        assert!(matches!(
            Currency::from_code("XAU"),
            Err(MoneyError::NoMinorUnit(_))
        ));
    }

    #[test]
    fn arithmetic_is_checked() {
        let inr = Currency::from_code("INR").unwrap();
        let usd = Currency::from_code("USD").unwrap();
        let a = Money::new(i64::MAX, inr);
        assert_eq!(a.checked_add(Money::new(1, inr)), Err(MoneyError::Overflow));
        assert!(matches!(
            Money::new(1, inr).checked_add(Money::new(1, usd)),
            Err(MoneyError::CurrencyMismatch { .. })
        ));
        assert_eq!(
            Money::new(150, inr)
                .checked_sub(Money::new(50, inr))
                .unwrap(),
            Money::new(100, inr)
        );
    }

    #[test]
    fn display_uses_the_currency_exponent() {
        let cases = [
            (123450, "INR", "1234.50 INR"),
            (5, "INR", "0.05 INR"),
            (-5, "INR", "-0.05 INR"),
            (1200, "JPY", "1200 JPY"),
            (1001, "KWD", "1.001 KWD"),
        ];
        for (amount, code, want) in cases {
            assert_eq!(Money::from_wire(amount, code).unwrap().to_string(), want);
        }
    }
}
