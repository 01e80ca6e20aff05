//! Fully populated sample values of every event type, for codec tests.

use super::balance::*;
use super::beneficiary_verification::*;
use super::dead_letter::*;
use super::fraud_assessment::*;
use super::journal_entry::*;
use super::keyed_state::*;
use super::merchant_notification::*;
use super::payment_command::*;
use super::payment_event::*;
use super::payout::*;
use super::provider::*;
use super::reconciliation::*;
use super::refund::*;
use super::routing_decision::*;
use super::transition_rejected::*;
use super::TimestampMillis;
use std::collections::BTreeMap;

const T: TimestampMillis = TimestampMillis(1_763_942_400_123);

fn s(v: &str) -> String {
    v.to_owned()
}

pub fn payment_command() -> PaymentCommand {
    PaymentCommand {
        command_id: s("cmd_1"),
        payment_id: s("pay_1"),
        merchant_id: s("m_1"),
        kind: PaymentCommandKind::Create,
        amount_minor: Some(125_050),
        currency: Some(s("INR")),
        capture_method: Some(CaptureMethod::Manual),
        payment_method: Some(PaymentMethod {
            method_type: PaymentMethodType::Card,
            card_token: Some(s("tok_visa_success")),
            card_network: Some(s("VISA")),
            card_last4: Some(s("4242")),
            card_issuer_country: Some(s("IN")),
            vpa: None,
            bank_code: None,
            wallet: None,
        }),
        customer_id: Some(s("cus_1")),
        customer_ip: Some(s("203.0.113.7")),
        customer_country: Some(s("IN")),
        idempotency_key: Some(s("idem_1")),
        metadata: [(s("order"), s("o_1"))].into_iter().collect(),
        issued_at: T,
        confirm: false,
    }
}

pub fn payment_event() -> PaymentEvent {
    PaymentEvent {
        event_id: s("evt_1"),
        payment_id: s("pay_1"),
        merchant_id: s("m_1"),
        sequence: 3,
        status: IntentStatus::RequiresCapture,
        previous_status: Some(IntentStatus::Processing),
        attempt_id: Some(s("att_1")),
        attempt_status: Some(AttemptStatus::Authorized),
        amount_minor: 125_050,
        amount_captured_minor: 0,
        currency: s("INR"),
        connector: Some(s("razorsim")),
        reason_code: None,
        reason: None,
        cause_id: s("resp_1"),
        occurred_at: T,
        provider_fee_minor: Some(2_500),
        risk: Some(RiskContext {
            method_type: s("CARD"),
            customer_id: Some(s("cus_1")),
            card_token: Some(s("tok_visa_4242")),
            card_issuer_country: Some(s("IN")),
            vpa: None,
            customer_ip: Some(s("203.0.113.7")),
            customer_country: Some(s("IN")),
        }),
    }
}

pub fn transition_rejected() -> TransitionRejected {
    TransitionRejected {
        rejection_id: s("rej_1"),
        payment_id: s("pay_1"),
        merchant_id: s("m_1"),
        current_status: Some(s("SUCCEEDED")),
        attempted: s("webhook:PENDING"),
        reason_code: s("LATE_SIGNAL"),
        reason: s("pending after succeeded"),
        cause_id: s("wh_1"),
        occurred_at: T,
    }
}

pub fn fraud_assessment() -> FraudAssessment {
    FraudAssessment {
        assessment_id: s("fa_1"),
        payment_id: s("pay_1"),
        merchant_id: s("m_1"),
        score: 420,
        decision: FraudDecision::Review,
        mode: AssessmentMode::Scored,
        reasons: vec![FraudReason {
            rule: s("velocity_card"),
            detail: s("6 in 10m"),
            score: 300,
            shadow: false,
        }],
        assessed_at: T,
    }
}

pub fn routing_decision() -> RoutingDecision {
    RoutingDecision {
        decision_id: s("rd_1"),
        payment_id: s("pay_1"),
        attempt_id: s("att_1"),
        merchant_id: s("m_1"),
        connector: Some(s("razorsim")),
        rule: s("cards_inr"),
        reason: s("split bucket 37 < 70"),
        candidates: vec![s("razorsim"), s("stripesim")],
        cascade_depth: 0,
        decided_at: T,
    }
}

/// The subject of the provider samples: attempt `att_1` of payment `pay_1`.
fn attempt_subject() -> ProviderSubject {
    ProviderSubject {
        kind: ProviderSubjectKind::PaymentAttempt,
        payment_id: Some(s("pay_1")),
        attempt_id: Some(s("att_1")),
        refund_id: None,
        payout_id: None,
        beneficiary_id: None,
        verification_id: None,
    }
}

pub fn provider_request() -> ProviderRequest {
    ProviderRequest {
        request_id: s("req_1"),
        attempt_id: s("att_1"),
        payment_id: s("pay_1"),
        merchant_id: s("m_1"),
        connector: s("razorsim"),
        operation: ProviderOperation::Authorize,
        amount_minor: 125_050,
        currency: s("INR"),
        method_type: Some(s("CARD")),
        method_reference: Some(s("tok_visa_success")),
        provider_reference: None,
        requested_at: T,
        status_of: None,
        payee: Some(Payee {
            account_kind: s("bank_account"),
            account_masked: s("XXXX9012 HDFC0001234"),
            account_sealed: s("v1.c2VhbGVk"),
            name: Some(s("Asha Rao")),
            rail: Some(s("IMPS")),
            narration: None,
            purpose: Some(s("SALARY")),
        }),
        subject: Some(attempt_subject()),
    }
}

pub fn provider_response() -> ProviderResponse {
    ProviderResponse {
        response_id: s("resp_1"),
        request_id: s("req_1"),
        attempt_id: s("att_1"),
        payment_id: s("pay_1"),
        connector: s("razorsim"),
        operation: s("AUTHORIZE"),
        outcome: ProviderOutcome::Declined,
        decline_class: Some(DeclineClass::InsufficientFunds),
        retryable: false,
        provider_reference: Some(s("rz_1")),
        provider_code: Some(s("NSF")),
        message: Some(s("insufficient funds")),
        fee_minor: Some(250),
        latency_ms: 37,
        received_at: T,
        bank_reference: None,
        verification: Some(AccountCheck {
            account_valid: true,
            registered_name: Some(s("ASHA RAO")),
            name_match_score: Some(92),
            reason_code: None,
        }),
        request_operation: Some(ProviderOperation::Authorize),
        subject: Some(attempt_subject()),
    }
}

pub fn provider_webhook() -> ProviderWebhook {
    ProviderWebhook {
        webhook_id: s("wh_1"),
        connector: s("razorsim"),
        payment_id: s("pay_1"),
        attempt_id: Some(s("att_1")),
        provider_reference: Some(s("rz_1")),
        event_type: s("payment.captured"),
        outcome: ProviderOutcome::Succeeded,
        decline_class: None,
        amount_minor: Some(125_050),
        currency: Some(s("INR")),
        provider_timestamp: T,
        received_at: T,
        body_sha256: s("ab".repeat(32).as_str()),
        bank_reference: None,
        provider_code: None,
        subject: Some(attempt_subject()),
    }
}

pub fn journal_entry() -> JournalEntry {
    JournalEntry {
        entry_id: s("je_1"),
        merchant_id: s("m_1"),
        payment_id: Some(s("pay_1")),
        movement: Movement::Capture,
        currency: s("INR"),
        postings: vec![
            Posting {
                account: s("provider:razorsim:receivable"),
                direction: Direction::Debit,
                amount_minor: 125_050,
            },
            Posting {
                account: s("merchant:m_1:pending"),
                direction: Direction::Credit,
                amount_minor: 125_050,
            },
        ],
        cause_id: s("evt_1"),
        posted_at: T,
    }
}

pub fn refund_request() -> RefundRequest {
    RefundRequest {
        refund_id: s("rf_1"),
        payment_id: s("pay_1"),
        merchant_id: s("m_1"),
        amount_minor: Some(50_000),
        currency: s("INR"),
        reason: Some(s("damaged")),
        requested_by: s("key_live_1"),
        idempotency_key: Some(s("idem_rf_1")),
        requested_at: T,
        action: RefundAction::Create,
        metadata: BTreeMap::from([(s("order"), s("o_1"))]),
    }
}

pub fn refund_event() -> RefundEvent {
    RefundEvent {
        event_id: s("rfe_1"),
        refund_id: s("rf_1"),
        payment_id: s("pay_1"),
        merchant_id: s("m_1"),
        status: RefundStatus::Pending,
        amount_minor: 50_000,
        currency: s("INR"),
        connector: Some(s("razorsim")),
        provider_reference: Some(s("rzrf_1")),
        reason_code: Some(s("BANK_PROCESSING")),
        reason: Some(s("awaiting bank")),
        occurred_at: T,
        sequence: 2,
        previous_status: Some(RefundStatus::PendingApproval),
        actor: Some(s("key_approver_1")),
        cause_id: Some(s("rf_1:approve")),
        payment_captured_minor: 125_050,
        payment_refunded_minor: 50_000,
        metadata: BTreeMap::from([(s("order"), s("o_1"))]),
    }
}

pub fn payout_decision() -> PayoutDecision {
    PayoutDecision {
        decision_id: s("po_1:approve:k_1"),
        payout_id: s("po_1"),
        merchant_id: s("m_1"),
        action: PayoutDecisionAction::Approve,
        decided_by: s("key_approver"),
        note: Some(s("invoice checked")),
        idempotency_key: Some(s("k_1")),
        decided_at: T,
    }
}

pub fn payout_request() -> PayoutRequest {
    PayoutRequest {
        payout_id: s("po_1"),
        merchant_id: s("m_1"),
        batch_id: Some(s("batch_1")),
        beneficiary_id: s("ben_1"),
        purpose: PayoutPurpose::Salary,
        amount_minor: 3_000_000,
        currency: s("INR"),
        rail: PayoutRail::Imps,
        idempotency_key: None,
        requested_at: T,
        action: PayoutAction::Create,
        requested_by: s("key_maker_1"),
        reference: Some(s("payroll-2026-11")),
        narration: Some(s("Salary Nov")),
        note: None,
    }
}

pub fn payout_event() -> PayoutEvent {
    PayoutEvent {
        event_id: s("poe_1"),
        payout_id: s("po_1"),
        merchant_id: s("m_1"),
        batch_id: Some(s("batch_1")),
        status: PayoutStatus::Failed,
        amount_minor: 3_000_000,
        currency: s("INR"),
        connector: Some(s("cashsim")),
        provider_reference: None,
        reason_code: Some(s("INVALID_BENEFICIARY")),
        reason: Some(s("account closed")),
        occurred_at: T,
        sequence: 3,
        previous_status: Some(PayoutStatus::Processing),
        beneficiary_id: Some(s("ben_1")),
        rail: Some(s("IMPS")),
        utr: None,
        actor: None,
        cause_id: Some(s("po_1_payout:resp")),
    }
}

pub fn beneficiary_verification() -> BeneficiaryVerification {
    BeneficiaryVerification {
        verification_id: s("bv_1"),
        beneficiary_id: s("ben_1"),
        merchant_id: s("m_1"),
        account_kind: BeneficiaryAccountKind::Vpa,
        account_reference: s("asha@upi"),
        name_on_record: Some(s("Asha Rao")),
        status: VerificationStatus::NameMismatch,
        name_at_bank: Some(s("A RAO")),
        name_match_score: Some(71),
        connector: Some(s("cashsim")),
        reason: Some(s("name differs")),
        occurred_at: T,
        account_fingerprint: Some(s("9f2c")),
        reason_code: Some(s("NAME_MISMATCH")),
        expires_at: Some(T),
        sequence: 2,
    }
}

pub fn beneficiary_command() -> BeneficiaryCommand {
    BeneficiaryCommand {
        command_id: s("bc_1"),
        beneficiary_id: s("ben_1"),
        merchant_id: s("m_1"),
        kind: BeneficiaryCommandKind::Create,
        name: Some(s("Asha Rao")),
        account_kind: Some(s("bank_account")),
        account_masked: Some(s("XXXX9012 HDFC0001234")),
        account_sealed: Some(s("v1.c2VhbGVk")),
        account_fingerprint: Some(s("9f2c")),
        requested_by: s("key_maker_1"),
        issued_at: T,
    }
}

pub fn balance_command() -> BalanceCommand {
    BalanceCommand {
        command_id: s("po_1:reserve"),
        merchant_id: s("m_1"),
        payout_id: s("po_1"),
        kind: BalanceCommandKind::Reserve,
        amount_minor: 3_000_000,
        currency: s("INR"),
        queue_until: Some(T),
        issued_at: T,
    }
}

pub fn funding_decision() -> FundingDecision {
    FundingDecision {
        decision_id: s("po_1:reserved"),
        payout_id: s("po_1"),
        merchant_id: s("m_1"),
        outcome: FundingOutcome::Reserved,
        amount_minor: 3_000_000,
        currency: s("INR"),
        available_minor: 120_000,
        decided_at: T,
    }
}

pub fn settlement_line() -> SettlementLine {
    SettlementLine {
        line_id: s("st_1:1"),
        settlement_id: s("st_1"),
        connector: s("razorsim"),
        provider_reference: s("rz_1"),
        payment_id: Some(s("pay_1")),
        kind: SettlementKind::Payment,
        gross_minor: 125_050,
        fee_minor: 2_501,
        net_minor: 122_549,
        currency: s("INR"),
        settled_at: T,
    }
}

pub fn reconciliation_result() -> ReconciliationResult {
    ReconciliationResult {
        result_id: s("rr_1"),
        line_id: Some(s("st_1:1")),
        payment_id: Some(s("pay_1")),
        connector: s("razorsim"),
        status: ReconciliationStatus::AmountMismatch,
        expected_minor: Some(125_050),
        actual_minor: Some(125_000),
        currency: s("INR"),
        detail: s("gross differs by 50"),
        reconciled_at: T,
    }
}

pub fn merchant_notification() -> MerchantNotification {
    MerchantNotification {
        notification_id: s("nt_1"),
        merchant_id: s("m_1"),
        event_type: s("payment_intent.succeeded"),
        object_id: s("pay_1"),
        object_status: s("SUCCEEDED"),
        amount_minor: Some(125_050),
        currency: Some(s("INR")),
        attempt: 1,
        created_at: T,
    }
}

pub fn dead_letter() -> DeadLetter {
    DeadLetter {
        processor: s("fraud"),
        source_topic: s("payments.commands"),
        source_partition: 2,
        source_offset: 41,
        key: Some(b"pay_1".to_vec()),
        value: Some(vec![0xde, 0xad, 0xbe, 0xef]),
        headers: vec![DeadLetterHeader {
            key: s("traceparent"),
            value: Some(b"00-abc".to_vec()),
        }],
        error_kind: DeadLetterKind::Undecodable,
        error_message: s("unknown framing"),
        failed_at: T,
    }
}

pub fn keyed_state() -> KeyedState {
    KeyedState {
        processor: s("payments"),
        key: s("pay_1"),
        state: br#"{"status":"PROCESSING"}"#.to_vec(),
        timers: vec![KeyedTimer {
            kind: s("status_check"),
            due_at: T,
            payload: b"att_1".to_vec(),
        }],
        written_at: T,
    }
}

pub fn deployment_identity() -> super::DeploymentIdentity {
    super::DeploymentIdentity {
        deployment_id: s("0192f0c4-7b1e-7c3a-9e2f-5d8a1b6c4e21"),
        name: s("paystream"),
        keyspace: s("paystream"),
        created_at: T,
    }
}
