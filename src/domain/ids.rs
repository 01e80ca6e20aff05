//! Identifier newtypes. An id is opaque text; the types stop a merchant id being passed as a payment id.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest id accepted from outside; ids are keys in Kafka and CQL, so they are bounded.
pub const ID_LEN_MAX: usize = 128;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Accepts 1..=ID_LEN_MAX characters of `[A-Za-z0-9_.:-]`.
            pub fn parse(raw: &str) -> Result<Self, IdError> {
                validate(raw).map(|()| Self(raw.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A payment intent.
    PaymentId
);
id_type!(
    /// One attempt to authorize a payment intent with one connector.
    AttemptId
);
id_type!(
    /// A merchant (tenant).
    MerchantId
);
id_type!(
    /// An event, used as the idempotency key of everything it causes.
    EventId
);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("id is empty")]
    Empty,
    #[error("id is {0} characters long; the limit is {ID_LEN_MAX}")]
    TooLong(usize),
    #[error("id contains '{0}': only letters, digits and _ . : - are allowed")]
    BadChar(char),
}

/// Whether `raw` may be an id: 1..=ID_LEN_MAX characters of `[A-Za-z0-9_.:-]`.
pub fn validate(raw: &str) -> Result<(), IdError> {
    if raw.is_empty() {
        return Err(IdError::Empty);
    }
    if raw.len() > ID_LEN_MAX {
        return Err(IdError::TooLong(raw.len()));
    }
    match raw
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-')))
    {
        Some(c) => Err(IdError::BadChar(c)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_bounded_and_plain() {
        assert!(PaymentId::parse("pay_01HZX-1.a:b").is_ok());
        assert_eq!(PaymentId::parse(""), Err(IdError::Empty));
        assert_eq!(PaymentId::parse("a b"), Err(IdError::BadChar(' ')));
        assert_eq!(
            PaymentId::parse(&"x".repeat(129)),
            Err(IdError::TooLong(129))
        );
    }
}
