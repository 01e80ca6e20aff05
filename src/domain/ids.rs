//! Identifier newtypes. An id is opaque text; the types stop a merchant id being passed as a payment id.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The one bound of every id: ids are keys in Kafka and CQL, so they are bounded.
pub const ID_LEN_MAX: usize = 128;
/// The most paystream appends to a payment id to derive another id (`_att2_authorize`,
/// `:fraud:<sequence>`, `:<sequence>`): a payment id leaves that much room, so every derived id
/// stays within `ID_LEN_MAX`.
pub const DERIVED_SUFFIX_LEN_MAX: usize = 32;
/// Longest payment id: `ID_LEN_MAX` less the room its derived ids need.
pub const PAYMENT_ID_LEN_MAX: usize = ID_LEN_MAX - DERIVED_SUFFIX_LEN_MAX;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $len_max:expr) => {
        $(#[$doc])*
        /// Validated when parsed, deserialized included: a value of this type is always a valid id.
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(raw: String) -> Result<Self, IdError> {
                validate_within(&raw, $len_max).map(|()| Self(raw))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        /// Compares with an id as the wire carries it.
        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl $name {
            /// Accepts 1..=its bound characters of `[A-Za-z0-9_.:-]`.
            pub fn parse(raw: &str) -> Result<Self, IdError> {
                validate_within(raw, $len_max).map(|()| Self(raw.to_owned()))
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
    PaymentId,
    PAYMENT_ID_LEN_MAX
);
id_type!(
    /// One attempt to authorize a payment intent with one connector.
    AttemptId,
    ID_LEN_MAX
);
id_type!(
    /// A merchant (tenant).
    MerchantId,
    ID_LEN_MAX
);
id_type!(
    /// A refund of a payment.
    RefundId,
    ID_LEN_MAX
);
id_type!(
    /// A payout to a beneficiary.
    PayoutId,
    ID_LEN_MAX
);
id_type!(
    /// A payee: a bank account or a VPA, with its verification.
    BeneficiaryId,
    ID_LEN_MAX
);
id_type!(
    /// A bulk payout: the batch its payouts were submitted in.
    BatchId,
    ID_LEN_MAX
);
id_type!(
    /// One check of a beneficiary's account at a provider (a penny drop or a VPA lookup).
    VerificationId,
    ID_LEN_MAX
);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("id is empty")]
    Empty,
    #[error("id is {0} characters long; the limit is {1}")]
    TooLong(usize, usize),
    #[error("id contains '{0}': only letters, digits and _ . : - are allowed")]
    BadChar(char),
}

/// Whether `raw` may be an id: 1..=ID_LEN_MAX characters of `[A-Za-z0-9_.:-]`.
pub fn validate(raw: &str) -> Result<(), IdError> {
    validate_within(raw, ID_LEN_MAX)
}

fn validate_within(raw: &str, len_max: usize) -> Result<(), IdError> {
    if raw.is_empty() {
        return Err(IdError::Empty);
    }
    if raw.len() > len_max {
        return Err(IdError::TooLong(raw.len(), len_max));
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
            MerchantId::parse(&"x".repeat(129)),
            Err(IdError::TooLong(129, 128))
        );
        assert_eq!(
            PaymentId::parse(&"x".repeat(97)),
            Err(IdError::TooLong(97, 96))
        );
        // The longest payment id's derived ids still fit.
        let longest = "x".repeat(PAYMENT_ID_LEN_MAX);
        assert!(validate(&format!("{longest}_att5_authorize")).is_ok());
        assert!(validate(&format!("{longest}:fraud:{}", i64::MAX)).is_ok());
    }

    #[test]
    fn ids_are_validated_when_deserialized_and_serialize_as_text() {
        let id: MerchantId = serde_json::from_str("\"m_1\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"m_1\"");
        let err = serde_json::from_str::<MerchantId>("\"m 1\"").unwrap_err();
        assert!(err.to_string().contains("id contains ' '"), "{err}");
    }
}
