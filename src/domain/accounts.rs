//! Beneficiary accounts: a bank account (number and IFSC) or a UPI VPA.
//!
//! A bank account number is sensitive: it leaves the bridge only as [`Sealed`] (AES-256-GCM with the
//! deployment's account key), and is opened again only at the connector edge, for the provider call
//! that needs it. Everything else (state, topics, tables, logs) carries the masked form (last four
//! digits) and the account's [`fingerprint`] (an HMAC of the exact account details under the same
//! key), which binds a verification to the account it verified: editing any detail changes it.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What identifies a beneficiary's account.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Account {
    BankAccount { number: String, ifsc: String },
    Vpa { vpa: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    #[error("account_number: {0}")]
    Number(String),
    #[error("ifsc: {0}")]
    Ifsc(String),
    #[error("vpa: {0}")]
    Vpa(String),
    #[error("account key: {0}")]
    Key(String),
    #[error("sealed account: {0}")]
    Sealed(String),
}

impl Account {
    /// Checks the form: 9 to 18 digits and an IFSC of four letters, `0`, six letters or digits; or
    /// a VPA `handle@provider`.
    pub fn validate(&self) -> Result<(), AccountError> {
        match self {
            Account::BankAccount { number, ifsc } => {
                if !(9..=18).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(AccountError::Number("9 to 18 digits".into()));
                }
                let b = ifsc.as_bytes();
                let ok = b.len() == 11
                    && b[..4].iter().all(u8::is_ascii_uppercase)
                    && b[4] == b'0'
                    && b[5..]
                        .iter()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
                if !ok {
                    return Err(AccountError::Ifsc(
                        "11 characters: four capital letters, 0, six capital letters or digits (HDFC0001234)".into(),
                    ));
                }
                Ok(())
            }
            Account::Vpa { vpa } => {
                let valid = vpa.len() <= 100
                    && vpa.split_once('@').is_some_and(|(handle, psp)| {
                        (2..=64).contains(&handle.len())
                            && handle
                                .bytes()
                                .all(|c| c.is_ascii_alphanumeric() || b".-_".contains(&c))
                            && (2..=32).contains(&psp.len())
                            && psp.bytes().all(|c| c.is_ascii_alphanumeric())
                    });
                if valid {
                    Ok(())
                } else {
                    Err(AccountError::Vpa(
                        "handle@provider, letters, digits, '.', '-', '_'".into(),
                    ))
                }
            }
        }
    }

    /// What may be shown: a bank account's last four digits with its IFSC, or the VPA (not secret).
    pub fn masked(&self) -> String {
        match self {
            Account::BankAccount { number, ifsc } => {
                let tail = number.get(number.len().saturating_sub(4)..).unwrap_or("");
                format!("XXXX{tail} {ifsc}")
            }
            Account::Vpa { vpa } => vpa.clone(),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Account::BankAccount { .. } => "bank_account",
            Account::Vpa { .. } => "vpa",
        }
    }
}

/// The deployment's account key: 32 bytes, given as 64 hex digits.
#[derive(Clone)]
pub struct AccountKey([u8; 32]);

impl std::fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccountKey(..)")
    }
}

impl AccountKey {
    pub fn from_hex(hex_key: &str) -> Result<Self, AccountError> {
        let bytes = hex::decode(hex_key).map_err(|e| AccountError::Key(e.to_string()))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| AccountError::Key("must be 32 bytes (64 hex digits)".into()))?;
        Ok(Self(key))
    }

    /// The account's fingerprint: HMAC-SHA256 of its kind and details, hex. Equal exactly when every
    /// detail is equal.
    pub fn fingerprint(&self, a: &Account) -> String {
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&self.0) else {
            return String::new();
        };
        match a {
            Account::BankAccount { number, ifsc } => {
                for part in ["bank_account", number.as_str(), ifsc.as_str()] {
                    mac.update(&part.len().to_le_bytes());
                    mac.update(part.as_bytes());
                }
            }
            Account::Vpa { vpa } => {
                for part in ["vpa", vpa.to_ascii_lowercase().as_str()] {
                    mac.update(&part.len().to_le_bytes());
                    mac.update(part.as_bytes());
                }
            }
        }
        hex::encode(mac.finalize().into_bytes())
    }

    /// Seals the account (its details as JSON) under a fresh nonce: `v1.<base64 nonce|ciphertext>`.
    pub fn seal(&self, a: &Account) -> Result<Sealed, AccountError> {
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&self.0));
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let plain = serde_json::to_vec(a).map_err(|e| AccountError::Sealed(e.to_string()))?;
        let ct = cipher
            .encrypt(&nonce, plain.as_slice())
            .map_err(|e| AccountError::Sealed(e.to_string()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(Sealed(format!(
            "v1.{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(out)
        )))
    }

    /// Opens what [`seal`](Self::seal) sealed with the same key.
    pub fn open(&self, s: &Sealed) -> Result<Account, AccountError> {
        let bad = |m: &str| AccountError::Sealed(m.to_owned());
        let body =
            s.0.strip_prefix("v1.")
                .ok_or_else(|| bad("unknown version"))?;
        let raw = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(body)
            .map_err(|_| bad("not base64"))?;
        if raw.len() < 12 {
            return Err(bad("too short"));
        }
        let (nonce, ct) = raw.split_at(12);
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&self.0));
        let plain = cipher
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| bad("does not open with this key"))?;
        serde_json::from_slice(&plain).map_err(|_| bad("not an account"))
    }
}

/// An account sealed with the account key (see [`AccountKey::seal`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Sealed(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn bank(number: &str, ifsc: &str) -> Account {
        Account::BankAccount {
            number: number.into(),
            ifsc: ifsc.into(),
        }
    }

    #[test]
    fn forms_are_checked_and_masks_hide_the_number() {
        let cases: [(Account, Result<(), &str>); 6] = [
            (bank("123456789012", "HDFC0001234"), Ok(())),
            (bank("12345678", "HDFC0001234"), Err("account_number")),
            (bank("12345678901a", "HDFC0001234"), Err("account_number")),
            (bank("123456789012", "HDFC1001234"), Err("ifsc")),
            (
                Account::Vpa {
                    vpa: "asha.k@okbank".into(),
                },
                Ok(()),
            ),
            (
                Account::Vpa {
                    vpa: "no-at-sign".into(),
                },
                Err("vpa"),
            ),
        ];
        for (a, want) in cases {
            match (a.validate(), want) {
                (Ok(()), Ok(())) => {}
                (Err(e), Err(field)) => assert!(e.to_string().starts_with(field), "{e}"),
                (got, want) => panic!("{a:?}: {got:?} vs {want:?}"),
            }
        }
        assert_eq!(
            bank("123456789012", "HDFC0001234").masked(),
            "XXXX9012 HDFC0001234"
        );
    }

    #[test]
    fn sealed_accounts_open_only_with_their_key_and_fingerprints_bind_every_detail() {
        let key = AccountKey::from_hex(KEY).unwrap();
        let a = bank("123456789012", "HDFC0001234");
        let sealed = key.seal(&a).unwrap();
        assert!(!sealed.0.contains("123456789012"));
        assert_eq!(key.open(&sealed).unwrap(), a);
        assert_ne!(key.seal(&a).unwrap(), sealed, "a fresh nonce each time");
        let other = AccountKey::from_hex(&"ff".repeat(32)).unwrap();
        assert!(other.open(&sealed).is_err());
        assert_eq!(key.fingerprint(&a), key.fingerprint(&a.clone()));
        assert_ne!(
            key.fingerprint(&a),
            key.fingerprint(&bank("123456789012", "HDFC0001235"))
        );
        assert_ne!(
            key.fingerprint(&a),
            key.fingerprint(&bank("123456789013", "HDFC0001234"))
        );
        assert!(AccountKey::from_hex("abcd").is_err());
    }
}
