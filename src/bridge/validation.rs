//! Validation of payment intents at the edge, before anything reaches Kafka. Every rejection carries a
//! machine-readable code, the field, and a message that says what to fix; the HTTP layer turns it into
//! a 4xx. Nothing here trusts the caller: sizes are bounded and card data is only ever a token.

use crate::domain::pan::contains_pan;
use crate::domain::Currency;
use crate::events::payment_command::{PaymentMethod, PaymentMethodType};
use std::collections::BTreeMap;

/// Limits a deployment sets per merchant or globally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub amount_minor_min: i64,
    pub amount_minor_max: i64,
    pub metadata_keys_max: usize,
    pub metadata_key_len_max: usize,
    pub metadata_value_len_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            amount_minor_min: 1,
            amount_minor_max: 10_000_000_000,
            metadata_keys_max: 20,
            metadata_key_len_max: 40,
            metadata_value_len_max: 500,
        }
    }
}

impl Limits {
    /// The limits a bridge's configuration sets; the rest keep their defaults.
    pub fn of(config: &super::config::BridgeConfig) -> Self {
        Self {
            amount_minor_min: config.amount_minor_min,
            amount_minor_max: config.amount_minor_max,
            metadata_keys_max: config.metadata_keys_max,
            metadata_value_len_max: config.metadata_value_len_max,
            ..Self::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Machine-readable, stable: clients branch on it.
    pub code: &'static str,
    pub field: &'static str,
    pub message: String,
}

fn invalid(code: &'static str, field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        code,
        field,
        message: message.into(),
    }
}

pub fn amount(amount_minor: i64, currency: &str, limits: &Limits) -> Result<Currency, Invalid> {
    let c = Currency::from_code(currency)
        .map_err(|e| invalid("currency_invalid", "currency", e.to_string()))?;
    if amount_minor < limits.amount_minor_min || amount_minor > limits.amount_minor_max {
        return Err(invalid(
            "amount_out_of_range",
            "amount",
            format!(
                "amount {amount_minor} is outside {}..={} minor units of {currency}: send an integer amount in the currency's minor unit ({} decimal places)",
                limits.amount_minor_min,
                limits.amount_minor_max,
                c.exponent()
            ),
        ));
    }
    Ok(c)
}

fn token_like(s: &str) -> bool {
    (4..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

pub fn payment_method(m: &PaymentMethod) -> Result<(), Invalid> {
    // A PAN anywhere in the method is refused, whatever field it hides in.
    for v in [
        &m.card_token,
        &m.vpa,
        &m.bank_code,
        &m.wallet,
        &m.card_last4,
    ]
    .into_iter()
    .flatten()
    {
        if contains_pan(v) {
            return Err(invalid("raw_card_number", "payment_method", "a card number was sent: send the card vault token (card_token) instead; paystream never accepts a PAN"));
        }
    }
    match m.method_type {
        PaymentMethodType::Card => card(m),
        PaymentMethodType::Upi => upi(m),
        PaymentMethodType::NetBanking => net_banking(m),
        PaymentMethodType::Wallet => wallet(m),
    }
}

/// The field a method needs, or the refusal naming it.
fn required<'m>(
    value: &'m Option<String>,
    code: &'static str,
    field: &'static str,
    message: &'static str,
) -> Result<&'m str, Invalid> {
    value
        .as_deref()
        .ok_or_else(|| invalid(code, field, message))
}

fn card(m: &PaymentMethod) -> Result<(), Invalid> {
    let field = "payment_method.card_token";
    let token = required(
        &m.card_token,
        "card_token_missing",
        field,
        "a card payment needs card_token",
    )?;
    if !token_like(token) {
        return Err(invalid(
            "card_token_invalid",
            field,
            "card_token is 4-64 letters, digits, '_' or '-'",
        ));
    }
    if let Some(l4) = &m.card_last4 {
        if l4.len() != 4 || !l4.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(
                "card_last4_invalid",
                "payment_method.card_last4",
                "card_last4 is exactly 4 digits",
            ));
        }
    }
    Ok(())
}

fn upi(m: &PaymentMethod) -> Result<(), Invalid> {
    let field = "payment_method.vpa";
    let vpa = required(
        &m.vpa,
        "vpa_missing",
        field,
        "a UPI payment needs vpa, e.g. name@bank",
    )?;
    let ok = vpa.len() <= 100
        && vpa.split_once('@').is_some_and(|(user, handle)| {
            (2..=256).contains(&user.len())
                && user
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
                && (2..=64).contains(&handle.len())
                && handle.chars().all(|c| c.is_ascii_alphanumeric())
        });
    if !ok {
        return Err(invalid(
            "vpa_invalid",
            field,
            format!("'{vpa}' is not a VPA: use name@bank"),
        ));
    }
    Ok(())
}

fn net_banking(m: &PaymentMethod) -> Result<(), Invalid> {
    let field = "payment_method.bank_code";
    let code = required(
        &m.bank_code,
        "bank_code_missing",
        field,
        "net banking needs bank_code, e.g. HDFC",
    )?;
    let ok = (2..=11).contains(&code.len())
        && code
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if !ok {
        return Err(invalid(
            "bank_code_invalid",
            field,
            "bank_code is 2-11 upper-case letters or digits",
        ));
    }
    Ok(())
}

fn wallet(m: &PaymentMethod) -> Result<(), Invalid> {
    let field = "payment_method.wallet";
    let w = required(
        &m.wallet,
        "wallet_missing",
        field,
        "a wallet payment needs wallet, e.g. paytm",
    )?;
    if !token_like(w) {
        return Err(invalid(
            "wallet_invalid",
            field,
            "wallet is 4-64 letters, digits, '_' or '-'",
        ));
    }
    Ok(())
}

pub fn metadata(md: &BTreeMap<String, String>, limits: &Limits) -> Result<(), Invalid> {
    if md.len() > limits.metadata_keys_max {
        return Err(invalid(
            "metadata_too_large",
            "metadata",
            format!("{} keys; at most {}", md.len(), limits.metadata_keys_max),
        ));
    }
    for (k, v) in md {
        // First, so that no message below repeats a card number.
        if contains_pan(k) || contains_pan(v) {
            return Err(invalid(
                "raw_card_number",
                "metadata",
                "a metadata key or value holds a card number: remove it",
            ));
        }
        if k.is_empty() || k.len() > limits.metadata_key_len_max {
            return Err(invalid(
                "metadata_key_invalid",
                "metadata",
                format!(
                    "key '{k}' must be 1..={} characters",
                    limits.metadata_key_len_max
                ),
            ));
        }
        if v.len() > limits.metadata_value_len_max {
            return Err(invalid(
                "metadata_value_too_long",
                "metadata",
                format!(
                    "value of '{k}' exceeds {} characters",
                    limits.metadata_value_len_max
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn method(t: PaymentMethodType) -> PaymentMethod {
        PaymentMethod::of(t)
    }

    #[test]
    fn amounts_follow_the_currency_and_the_limits() {
        let l = Limits::default();
        assert_eq!(amount(100, "JPY", &l).unwrap().exponent(), 0);
        let cases = [
            (0, "INR", "amount_out_of_range"),
            (-5, "INR", "amount_out_of_range"),
            (l.amount_minor_max + 1, "INR", "amount_out_of_range"),
            (100, "inr", "currency_invalid"),
            (100, "XAU", "currency_invalid"),
        ];
        for (a, c, code) in cases {
            assert_eq!(amount(a, c, &l).unwrap_err().code, code, "{a} {c}");
        }
    }

    #[test]
    fn payment_methods() {
        let mut card = method(PaymentMethodType::Card);
        card.card_token = Some("tok_visa".into());
        let mut raw = card.clone();
        raw.card_token = Some("4242424242424242".into());
        let mut hidden = card.clone();
        hidden.wallet = Some("4000 0566 5566 5556".into());
        let mut upi = method(PaymentMethodType::Upi);
        upi.vpa = Some("asha.rao@okhdfc".into());
        let mut bad_upi = upi.clone();
        bad_upi.vpa = Some("asha".into());
        let mut nb = method(PaymentMethodType::NetBanking);
        nb.bank_code = Some("HDFC".into());
        let mut bad_nb = nb.clone();
        bad_nb.bank_code = Some("hdfc bank".into());
        let mut wallet = method(PaymentMethodType::Wallet);
        wallet.wallet = Some("paytm".into());
        let cases: Vec<(&str, PaymentMethod, Option<&str>)> = vec![
            ("card token", card, None),
            ("raw PAN as token", raw, Some("raw_card_number")),
            (
                "PAN hidden in another field",
                hidden,
                Some("raw_card_number"),
            ),
            (
                "card without token",
                method(PaymentMethodType::Card),
                Some("card_token_missing"),
            ),
            ("upi", upi, None),
            ("bad vpa", bad_upi, Some("vpa_invalid")),
            ("net banking", nb, None),
            ("bad bank code", bad_nb, Some("bank_code_invalid")),
            ("wallet", wallet, None),
            (
                "wallet missing",
                method(PaymentMethodType::Wallet),
                Some("wallet_missing"),
            ),
        ];
        for (name, m, want) in cases {
            assert_eq!(payment_method(&m).err().map(|e| e.code), want, "{name}");
        }
    }

    #[test]
    fn metadata_is_bounded_and_card_free() {
        let l = Limits::default();
        let ok: BTreeMap<String, String> = [("order".to_owned(), "o_1".to_owned())].into();
        assert!(metadata(&ok, &l).is_ok());
        let many: BTreeMap<String, String> =
            (0..21).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        assert_eq!(metadata(&many, &l).unwrap_err().code, "metadata_too_large");
        let long: BTreeMap<String, String> = [("k".to_owned(), "x".repeat(501))].into();
        assert_eq!(
            metadata(&long, &l).unwrap_err().code,
            "metadata_value_too_long"
        );
        let pan: BTreeMap<String, String> =
            [("note".to_owned(), "4242424242424242".to_owned())].into();
        assert_eq!(metadata(&pan, &l).unwrap_err().code, "raw_card_number");
    }
}
