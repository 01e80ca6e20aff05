//! Card numbers (PANs) found in text, so that none gets past the edge: paystream carries card tokens,
//! never a PAN, outside a vault.
//!
//! A PAN here is a run of 13 to 19 digits that passes the Luhn check, written plainly or in groups
//! separated by single spaces or dashes ("4242 4242 4242 4242"), standing as a word of its own:
//! - inside longer text it is found ("card 4242424242424242 exp 12/30", "4242424242424242@okaxis");
//! - a run glued to letters ("pay_0193ab4242...") is part of an id or a hash, not a card number; an
//!   underscore does not glue (ids join words with it);
//! - in a longer grouped run, any consecutive groups holding 13 to 19 digits count;
//! - a 13-digit run starting with 1 is an epoch-milliseconds timestamp (2001 to 2033), not a card:
//!   no card network issues 13-digit numbers starting with 1.
//!
//! 12-digit Maestro numbers are not detected: twelve Luhn-valid digits are also one Indian mobile
//! number with its country code in ten, and refusing those would refuse ordinary text.

use serde::Serialize;
use serde_json::Value as Json;

pub const PAN_DIGITS_MIN: usize = 13;
pub const PAN_DIGITS_MAX: usize = 19;

/// True when `text` holds a PAN as defined above.
pub fn contains_pan(text: &str) -> bool {
    scan(text, true).is_some()
}

/// [`contains_pan`] without the word rule: a run glued to letters counts too. For bytes that are not
/// known text (an undecodable record), where a length prefix or a neighbouring field may touch the
/// digits.
pub fn contains_pan_anywhere(text: &str) -> bool {
    scan(text, false).is_some()
}

/// The first PAN in `text`, masked as PCI DSS allows it to be shown: first six and last four digits.
pub fn masked(text: &str) -> Option<String> {
    let digits = scan(text, true)?;
    let shown = |ds: &[u8]| -> String { ds.iter().map(|d| char::from(b'0' + d)).collect() };
    let n = digits.len();
    Some(format!(
        "{}…{}",
        shown(&digits[..6]),
        shown(&digits[n - 4..])
    ))
}

/// The digits of the first PAN found.
fn scan(text: &str, words_only: bool) -> Option<Vec<u8>> {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let glued_before = words_only && i > 0 && chars[i - 1].is_alphanumeric();
        if !chars[i].is_ascii_digit() || glued_before {
            i += 1;
            continue;
        }
        let (groups, end) = digit_run(&chars, i);
        let glued_after = words_only && chars.get(end).is_some_and(|c| c.is_alphanumeric());
        if !glued_after {
            if let Some(pan) = pan_in_groups(&groups) {
                return Some(pan);
            }
        }
        i = end.max(i + 1);
    }
    None
}

/// The digit groups of the run starting at `start`, and the index just past it. Groups are separated
/// by one space or dash with a digit on each side.
fn digit_run(chars: &[char], start: usize) -> (Vec<Vec<u8>>, usize) {
    let mut groups = vec![Vec::new()];
    let mut i = start;
    while i < chars.len() {
        let c = chars[i];
        if let Some(d) = c.to_digit(10).and_then(|d| u8::try_from(d).ok()) {
            if let Some(g) = groups.last_mut() {
                g.push(d);
            }
            i += 1;
        } else if matches!(c, ' ' | '-') && chars.get(i + 1).is_some_and(char::is_ascii_digit) {
            groups.push(Vec::new());
            i += 1;
        } else {
            break;
        }
    }
    (groups, i)
}

fn pan_in_groups(groups: &[Vec<u8>]) -> Option<Vec<u8>> {
    for first in 0..groups.len() {
        let mut digits: Vec<u8> = Vec::with_capacity(PAN_DIGITS_MAX);
        for g in &groups[first..] {
            digits.extend_from_slice(g);
            if digits.len() > PAN_DIGITS_MAX {
                break;
            }
            if digits.len() >= PAN_DIGITS_MIN && !epoch_millis(&digits) && luhn_valid(&digits) {
                return Some(digits);
            }
        }
    }
    None
}

fn epoch_millis(digits: &[u8]) -> bool {
    digits.len() == 13 && digits.first() == Some(&1)
}

/// The Luhn (mod 10) check over decimal digits, most significant first.
pub fn luhn_valid(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            match (i % 2 == 1, d * 2) {
                (false, _) => d,
                (true, x) if x > 9 => x - 9,
                (true, x) => x,
            }
        })
        .sum();
    sum % 10 == 0
}

/// Where the first PAN in a JSON document is: its path (`customer.id`, `metadata[key]`), with a key
/// that is itself a PAN written as `(key)` so the path never repeats it. Numbers are read as their
/// digits; keys count as text.
pub fn find_in_json(value: &Json) -> Option<String> {
    find_at(value, "")
}

fn find_at(value: &Json, path: &str) -> Option<String> {
    let here = || {
        if path.is_empty() {
            "(body)".to_owned()
        } else {
            path.to_owned()
        }
    };
    match value {
        Json::String(s) if contains_pan(s) => Some(here()),
        Json::Number(n) if contains_pan(&n.to_string()) => Some(here()),
        Json::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| find_at(v, &format!("{path}[{i}]"))),
        Json::Object(fields) => fields.iter().find_map(|(k, v)| {
            let sep = if path.is_empty() { "" } else { "." };
            if contains_pan(k) {
                return Some(format!("{path}{sep}(key)"));
            }
            find_at(v, &format!("{path}{sep}{k}"))
        }),
        _ => None,
    }
}

/// [`find_in_json`] over any serializable value (a decoded command, a parsed webhook).
pub fn find_in<T: Serialize>(value: &T) -> Option<String> {
    match serde_json::to_value(value) {
        Ok(json) => find_in_json(&json),
        // Unserializable values carry no text we could check; say so rather than pass them.
        Err(_) => Some("(unreadable)".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn card_numbers_are_found_in_text() {
        let found = [
            "4242424242424242",
            "4242 4242 4242 4242",
            "4242-4242-4242-4242",
            "card 4242424242424242 exp 12/30",
            "4242424242424242@okaxis",
            "card:5555555555554444.",
            "pay_4242424242424242",
            "378282246310005",          // Amex, 15 digits
            "6011111111111117",         // Discover
            "4222222222222",            // Visa, 13 digits
            "6250941006528599",         // UnionPay
            "4242 4242 4242 4242 1230", // a PAN, then an expiry
        ];
        for s in found {
            assert!(contains_pan(s), "{s:?} holds a PAN");
        }
        let not_found = [
            "4242424242424241",           // Luhn fails
            "424242424242",               // 12 digits
            "42424242424242424242",       // 20 digits
            "pay_0193ab4242424242424242", // glued to letters: an id
            "a4242424242424242",
            "4242424242424242x",
            "1764212345678", // epoch milliseconds
            "+91 98765 43210",
            "2026-11-27",
            "order 12345",
            "4242  4242 4242 4242", // a double space ends the run
        ];
        for s in not_found {
            assert!(!contains_pan(s), "{s:?} holds no PAN");
        }
        assert_eq!(
            masked("order 77 card 4242 4242 4242 4242 exp 12/30").as_deref(),
            Some("424242…4242")
        );
        assert_eq!(masked("no card 12345"), None);
        // Without the word rule, glued runs count.
        assert!(contains_pan_anywhere("a4242424242424242"));
        assert!(contains_pan_anywhere("\u{1}x4242424242424242Z"));
        assert!(!contains_pan_anywhere("a4242424242424241"));
    }

    #[test]
    fn json_paths_name_the_field_and_never_repeat_a_key_that_is_a_pan() {
        let cases = [
            (
                json!({"customer": {"id": "4242424242424242"}}),
                Some("customer.id"),
            ),
            (
                json!({"metadata": {"4242424242424242": "x"}}),
                Some("metadata.(key)"),
            ),
            (json!({"a": [1, "note 4242-4242-4242-4242"]}), Some("a[1]")),
            (json!({"amount": 4242424242424242_i64}), Some("amount")),
            (json!("4242424242424242"), Some("(body)")),
            (json!({"amount": 1000, "note": "fine"}), None),
        ];
        for (doc, expected) in cases {
            assert_eq!(find_in_json(&doc).as_deref(), expected, "{doc}");
        }
    }

    fn luhn_complete(prefix: &[u8]) -> Vec<u8> {
        let mut digits = prefix.to_vec();
        digits.push(0);
        let check = (0..10u8)
            .find(|&c| {
                if let Some(last) = digits.last_mut() {
                    *last = c;
                }
                luhn_valid(&digits)
            })
            .unwrap_or(0);
        if let Some(last) = digits.last_mut() {
            *last = check;
        }
        digits
    }

    proptest! {
        /// Every Luhn-valid 14..=19 digit number is found inside random text that does not glue to it.
        #[test]
        fn every_card_number_in_random_text_is_found(
            first in 2u8..10,
            rest in proptest::collection::vec(0u8..10, 12..18),
            before in "[ a-z@:/,.]{0,12}[ @:/,.]",
            after in "[ @:/,.][ a-z@:/,.]{0,12}",
            grouped in any::<bool>(),
        ) {
            let mut prefix = vec![first];
            prefix.extend(rest);
            let digits = luhn_complete(&prefix);
            let mut pan: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
            if grouped {
                pan = pan.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" ");
            }
            let text = format!("{before}{pan}{after}");
            prop_assert!(contains_pan(&text), "{} holds {}", text, pan);
        }
    }
}
