//! The sandbox PSP (`paystream sandbox`): two simulated providers with different API shapes, Acme (JSON,
//! minor units, `Idempotency-Key` header) and Bolt (form-encoded, decimal amounts, key in the body).
//!
//! Scenarios are chosen by input, like test cards: the payment method reference (card token, VPA, bank
//! code or wallet) containing a scenario word selects it (`tok_insufficient_funds`,
//! `pending_success@upi`). Each provider remembers every idempotency key and answers a repeated call
//! with the first result, charging nothing twice. Asynchronous outcomes arrive as signed webhooks
//! (Standard Webhooks) at the bridge; `GET` on a charge gives its current status.

mod after_charge;
pub mod config;
pub mod server;
mod transferly;
mod views;
mod webhooks;

use crate::events::provider::DeclineClass;

/// What the sandbox does with one authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Success,
    Decline(DeclineClass),
    /// Pending now, then a success webhook.
    PendingThenSuccess,
    /// Pending now, then a failure webhook.
    PendingThenFailure,
    /// No answer within the caller's timeout; the charge succeeds and a webhook says so.
    Timeout,
    /// HTTP 503; the charge succeeded anyway and a webhook says so.
    ServerError,
    /// Pending, then the same success webhook twice.
    DuplicateWebhook,
    /// Pending, then the success webhook, then an older "pending" webhook.
    OutOfOrderWebhook,
    /// Success now, and a "succeeded" webhook much later.
    LateWebhook,
    /// Pending for ever: no webhook, and every status check says pending (the status-check ladder
    /// runs out and the payment is flagged `STATUS_UNRESOLVED`).
    Stuck,
}

impl Scenario {
    /// The scenario a method reference selects at `provider`: the first scenario word it contains,
    /// else success. `acme_down` makes Acme decline as issuer-unavailable (retryable) while Bolt
    /// succeeds: the routing failover scenario.
    pub fn of(reference: &str, provider: &str) -> Scenario {
        // Words that pick what happens after the charge (its refunds, capture) do not pick its own.
        let mut r = reference.to_ascii_lowercase();
        for word in after_charge::SCENARIO_WORDS {
            r = r.replace(word, "");
        }
        if r.contains("acme_down") {
            return if provider == "acme" {
                Scenario::Decline(DeclineClass::IssuerUnavailable)
            } else {
                Scenario::Success
            };
        }
        let table: [(&str, Scenario); 15] = [
            (
                "insufficient_funds",
                Scenario::Decline(DeclineClass::InsufficientFunds),
            ),
            (
                "invalid_card",
                Scenario::Decline(DeclineClass::InvalidPaymentMethod),
            ),
            ("do_not_honor", Scenario::Decline(DeclineClass::DoNotHonor)),
            ("fraudulent", Scenario::Decline(DeclineClass::RiskDecline)),
            (
                "issuer_unavailable",
                Scenario::Decline(DeclineClass::IssuerUnavailable),
            ),
            ("expired_card", Scenario::Decline(DeclineClass::Expired)),
            ("pending_success", Scenario::PendingThenSuccess),
            ("pending_failure", Scenario::PendingThenFailure),
            ("timeout", Scenario::Timeout),
            ("server_error", Scenario::ServerError),
            ("duplicate_webhook", Scenario::DuplicateWebhook),
            ("out_of_order", Scenario::OutOfOrderWebhook),
            ("late_webhook", Scenario::LateWebhook),
            ("stuck", Scenario::Stuck),
            ("success", Scenario::Success),
        ];
        table
            .iter()
            .find(|(word, _)| r.contains(word))
            .map_or(Scenario::Success, |(_, s)| *s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Scenario::Success => "success",
            Scenario::Decline(_) => "decline",
            Scenario::PendingThenSuccess => "pending_success",
            Scenario::PendingThenFailure => "pending_failure",
            Scenario::Timeout => "timeout",
            Scenario::ServerError => "server_error",
            Scenario::DuplicateWebhook => "duplicate_webhook",
            Scenario::OutOfOrderWebhook => "out_of_order",
            Scenario::LateWebhook => "late_webhook",
            Scenario::Stuck => "stuck",
        }
    }
}

/// A charge's state inside the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChargeState {
    Succeeded,
    Pending,
    Declined(DeclineClass),
    Failed,
}

/// The synchronous answer, and the webhooks to send afterwards as (delay multiplier, state).
pub struct Plan {
    pub answer: Answer,
    /// The state the charge ends in.
    pub settled: ChargeState,
    pub webhooks: Vec<(u64, ChargeState)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    State(ChargeState),
    Hang,
    ServerError,
}

pub fn plan(s: Scenario) -> Plan {
    use ChargeState as C;
    let (answer, settled, webhooks) = match s {
        Scenario::Success => (Answer::State(C::Succeeded), C::Succeeded, vec![]),
        Scenario::Decline(d) => (Answer::State(C::Declined(d)), C::Declined(d), vec![]),
        Scenario::PendingThenSuccess => (
            Answer::State(C::Pending),
            C::Succeeded,
            vec![(1, C::Succeeded)],
        ),
        Scenario::PendingThenFailure => {
            (Answer::State(C::Pending), C::Failed, vec![(1, C::Failed)])
        }
        // The provider finishes late: its webhook comes well after the caller gave up (and checked).
        Scenario::Timeout => (Answer::Hang, C::Succeeded, vec![(20, C::Succeeded)]),
        Scenario::ServerError => (Answer::ServerError, C::Succeeded, vec![(20, C::Succeeded)]),
        Scenario::DuplicateWebhook => (
            Answer::State(C::Pending),
            C::Succeeded,
            vec![(1, C::Succeeded), (2, C::Succeeded)],
        ),
        Scenario::OutOfOrderWebhook => (
            Answer::State(C::Pending),
            C::Succeeded,
            vec![(1, C::Succeeded), (2, C::Pending)],
        ),
        Scenario::LateWebhook => (
            Answer::State(C::Succeeded),
            C::Succeeded,
            vec![(6, C::Succeeded)],
        ),
        Scenario::Stuck => (Answer::State(C::Pending), C::Pending, vec![]),
    };
    Plan {
        answer,
        settled,
        webhooks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_select_scenarios() {
        type Case<'a> = (&'a str, Scenario);
        let cases: [Case<'_>; 6] = [
            ("tok_visa_4242", Scenario::Success),
            (
                "tok_insufficient_funds",
                Scenario::Decline(DeclineClass::InsufficientFunds),
            ),
            ("pending_success@upi", Scenario::PendingThenSuccess),
            ("tok_TIMEOUT", Scenario::Timeout),
            ("HDFC_server_error", Scenario::ServerError),
            ("wallet_out_of_order", Scenario::OutOfOrderWebhook),
        ];
        for (r, s) in cases {
            assert_eq!(Scenario::of(r, "acme"), s, "{r}");
        }
        assert_eq!(
            Scenario::of("tok_acme_down", "acme"),
            Scenario::Decline(DeclineClass::IssuerUnavailable)
        );
        assert_eq!(Scenario::of("tok_acme_down", "bolt"), Scenario::Success);
        // Unknown outcomes are settled by a webhook, never left open.
        for s in [
            Scenario::Timeout,
            Scenario::ServerError,
            Scenario::PendingThenSuccess,
        ] {
            assert!(!plan(s).webhooks.is_empty());
        }
    }
}
