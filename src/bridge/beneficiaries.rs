//! Beneficiaries over REST.
//!
//! - `POST /v1/beneficiaries` (`name`, and `bank_account: {account_number, ifsc}` or `vpa`;
//!   `Idempotency-Key`): the account is checked, sealed with the account key and fingerprinted here;
//!   the number goes no further in the clear. One `BeneficiaryCommand` on `beneficiaries.commands`.
//! - `POST /v1/beneficiaries/{id}` changes the name or the account (a changed account voids the
//!   verification); `POST /v1/beneficiaries/{id}/verify` asks for a penny drop or VPA lookup.
//! - `GET /v1/beneficiaries/{id}`: the row the beneficiaries processor writes (masked account).

use super::config::Role;
use super::errors::{err, invalid, ok_json, store_unavailable, ApiError};
use super::idempotency;
use super::replay::{run_once, Keyed};
use super::request::{authorized, caller, parse_json};
use super::shared::{Bridge, Caller};
use crate::domain::accounts::Account;
use crate::domain::clock::now_millis;
use crate::events::beneficiary_verification::{BeneficiaryCommand, BeneficiaryCommandKind};
use crate::events::TimestampMillis;
use crate::store::beneficiaries::BeneficiaryRow;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BankIn {
    account_number: String,
    ifsc: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BeneficiaryIn {
    name: Option<String>,
    bank_account: Option<BankIn>,
    vpa: Option<String>,
}

fn account_of(input: &BeneficiaryIn, required: bool) -> Result<Option<Account>, ApiError> {
    let account = match (&input.bank_account, &input.vpa) {
        (Some(b), None) => Account::BankAccount {
            number: b.account_number.clone(),
            ifsc: b.ifsc.to_ascii_uppercase(),
        },
        (None, Some(v)) => Account::Vpa { vpa: v.clone() },
        (None, None) if !required => return Ok(None),
        _ => {
            return Err(invalid(
                "account_required",
                "bank_account",
                "give exactly one of bank_account {account_number, ifsc} or vpa",
            ))
        }
    };
    account.validate().map_err(|e| {
        let field = e
            .to_string()
            .split(':')
            .next()
            .unwrap_or("account")
            .to_owned();
        invalid("account_invalid", &field, e.to_string())
    })?;
    Ok(Some(account))
}

fn name_ok(name: Option<&String>) -> Result<(), ApiError> {
    match name {
        Some(n) if n.trim().is_empty() || n.len() > 100 || n.chars().any(char::is_control) => Err(
            invalid("name_invalid", "name", "1 to 100 printable characters"),
        ),
        _ => Ok(()),
    }
}

fn command(
    b: &Bridge,
    who: &Caller,
    id: &str,
    kind: BeneficiaryCommandKind,
    name: Option<String>,
    account: Option<&Account>,
    key: Option<&str>,
) -> Result<BeneficiaryCommand, ApiError> {
    let sealed = account
        .map(|a| b.account_key.seal(a))
        .transpose()
        .map_err(|e| err(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    let tag = format!("{kind:?}").to_ascii_lowercase();
    Ok(BeneficiaryCommand {
        command_id: match key {
            Some(k) => format!(
                "bc_{}",
                idempotency::derived_id(&[
                    "beneficiary_command",
                    who.merchant_id.as_str(),
                    k,
                    &tag
                ])
            ),
            None => format!("bc_{}", uuid::Uuid::now_v7().simple()),
        },
        beneficiary_id: id.to_owned(),
        merchant_id: who.merchant_id.to_string(),
        kind,
        name,
        account_kind: account.map(|a| a.kind().to_owned()),
        account_masked: account.map(Account::masked),
        account_sealed: sealed.map(|s| s.0),
        account_fingerprint: account.map(|a| b.account_key.fingerprint(a)),
        requested_by: who.key_id.clone(),
        issued_at: TimestampMillis(now_millis()),
    })
}

fn accepted(c: &BeneficiaryCommand) -> (StatusCode, Vec<u8>) {
    let body = json!({
        "id": c.beneficiary_id, "object": "beneficiary",
        "accepted": {"command_id": c.command_id, "kind": format!("{:?}", c.kind).to_ascii_lowercase()},
        "status_url": format!("/v1/beneficiaries/{}", c.beneficiary_id),
    });
    (
        StatusCode::ACCEPTED,
        serde_json::to_vec(&body).unwrap_or_default(),
    )
}

pub async fn create(State(b): State<Arc<Bridge>>, headers: HeaderMap, body: Bytes) -> Response {
    let route = "/v1/beneficiaries";
    let (who, key) = match authorized(&b, &headers, &body, Role::Write) {
        Ok(c) => c,
        Err(e) => return e.respond(route),
    };
    let req = Keyed::post(route, &who.merchant_id, key.as_deref(), route, &body);
    run_once(&b, req, || async {
        let input: BeneficiaryIn = parse_json(&body)?;
        name_ok(input.name.as_ref())?;
        let account = account_of(&input, true)?;
        let id = match key.as_deref() {
            Some(k) => format!(
                "ben_{}",
                idempotency::derived_id(&["beneficiary", who.merchant_id.as_str(), k])
            ),
            None => format!("ben_{}", uuid::Uuid::now_v7().simple()),
        };
        let c = command(
            &b,
            &who,
            &id,
            BeneficiaryCommandKind::Create,
            input.name,
            account.as_ref(),
            key.as_deref(),
        )?;
        b.publish(&b.topics.beneficiaries, &c).await?;
        Ok(accepted(&c))
    })
    .await
}

/// The caller's beneficiary; another merchant's is indistinguishable from a missing one, and one
/// whose first command is not applied yet is not ready.
async fn owned(b: &Bridge, who: &Caller, id: &str) -> Result<BeneficiaryRow, ApiError> {
    crate::domain::ids::validate(id).map_err(|_| {
        err(
            StatusCode::NOT_FOUND,
            "beneficiary_not_found",
            "no such beneficiary",
        )
    })?;
    match b
        .tables
        .beneficiaries
        .get(id)
        .await
        .map_err(store_unavailable)?
    {
        Some(row) if who.merchant_id.as_str() == row.merchant_id => Ok(row),
        _ => Err(err(
            StatusCode::NOT_FOUND,
            "beneficiary_not_found",
            "no such beneficiary (a new one appears once applied: retry shortly)",
        )),
    }
}

/// `POST /v1/beneficiaries/{id}`: a new name or account.
pub async fn update(
    state: State<Arc<Bridge>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    act(state, id, BeneficiaryCommandKind::Update, headers, body).await
}

/// `POST /v1/beneficiaries/{id}/verify`: a penny drop or VPA lookup.
pub async fn verify(
    state: State<Arc<Bridge>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    act(state, id, BeneficiaryCommandKind::Verify, headers, body).await
}

async fn act(
    State(b): State<Arc<Bridge>>,
    id: String,
    kind: BeneficiaryCommandKind,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let route = "/v1/beneficiaries/{id}";
    let path = match kind {
        BeneficiaryCommandKind::Verify => format!("{id}/verify"),
        _ => id.clone(),
    };
    let (who, key) = match authorized(&b, &headers, &body, Role::Write) {
        Ok(c) => c,
        Err(e) => return e.respond(route),
    };
    let req = Keyed::post(
        route,
        &who.merchant_id,
        key.as_deref(),
        &format!("/v1/beneficiaries/{path}"),
        &body,
    );
    run_once(&b, req, || async {
        owned(&b, &who, &id).await?;
        let c = if kind == BeneficiaryCommandKind::Verify {
            command(&b, &who, &id, kind, None, None, key.as_deref())?
        } else {
            let input: BeneficiaryIn = parse_json(&body)?;
            name_ok(input.name.as_ref())?;
            let account = account_of(&input, false)?;
            command(
                &b,
                &who,
                &id,
                kind,
                input.name,
                account.as_ref(),
                key.as_deref(),
            )?
        };
        b.publish(&b.topics.beneficiaries, &c).await?;
        Ok(accepted(&c))
    })
    .await
}

pub async fn read(
    State(b): State<Arc<Bridge>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let route = "/v1/beneficiaries/{id}";
    let result = async {
        let who = caller(&b, &headers)?;
        let r = owned(&b, &who, &id).await?;
        let current = r.verified_fingerprint.as_deref() == Some(r.account_fingerprint.as_str());
        Ok::<_, ApiError>(json!({
            "id": r.beneficiary_id, "object": "beneficiary", "name": r.name,
            "account": {"kind": r.account_kind, "masked": r.account_masked},
            "verifying": r.verifying,
            "verification": r.verification_status.as_ref().map(|s| json!({
                "status": s.to_ascii_lowercase(),
                "account_status": if s == "INVALID" { "invalid" } else if s == "FAILED" { "unknown" } else { "valid" },
                "registered_name": r.registered_name, "name_match_score": r.name_match_score,
                "reason_code": r.verification_reason_code, "expires_at_ms": r.verification_expires_at_ms,
                "for_current_account": current,
            })),
            "sequence": r.sequence,
        }))
    }
    .await;
    ok_json(route, result)
}
