//! Ledger accounts. The ledger posts to them, the balances processor follows the merchant's
//! payable account, and the audit and the balance check read them back: all through [`Account`], so
//! an account's name is spelled in one place and a reader cannot drift from the writer.

use std::fmt;

/// One account of the double-entry ledger. Each names its owner: a merchant id or a connector name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Account<'a> {
    /// What paystream owes the merchant: its available balance (credit-normal).
    MerchantPayable(&'a str),
    /// What the merchant's refunds and payouts hold (credit-normal).
    MerchantReserved(&'a str),
    /// What a card or UPI provider owes paystream.
    ProviderReceivable(&'a str),
    /// What the payout provider paid out for paystream.
    ProviderPayouts(&'a str),
    /// The provider's fees.
    ProviderFees(&'a str),
    /// Memo pair of an authorization's hold: the provider's side…
    HoldsProvider(&'a str),
    /// …and the merchant's.
    HoldsMerchant(&'a str),
}

impl<'a> Account<'a> {
    /// The account's name as it is stored (`merchant:<m>:payable`, `fees:provider:<c>`, …).
    pub fn name(&self) -> String {
        self.to_string()
    }

    /// The owner: a merchant id or a connector name.
    pub fn owner(&self) -> &'a str {
        self.parts().1
    }

    /// The name's three parts: what comes before the owner, the owner, what comes after. The only
    /// place the names are spelled.
    fn parts(&self) -> (&'static str, &'a str, &'static str) {
        match *self {
            Account::MerchantPayable(m) => ("merchant:", m, ":payable"),
            Account::MerchantReserved(m) => ("merchant:", m, ":reserved"),
            Account::ProviderReceivable(c) => ("provider:", c, ":receivable"),
            Account::ProviderPayouts(c) => ("provider:", c, ":payouts"),
            Account::ProviderFees(c) => ("fees:provider:", c, ""),
            Account::HoldsProvider(c) => ("holds:provider:", c, ""),
            Account::HoldsMerchant(m) => ("holds:merchant:", m, ""),
        }
    }

    /// The account a stored name stands for, or `None` for a name no paystream version writes.
    pub fn parse(name: &'a str) -> Option<Account<'a>> {
        let kinds: [fn(&'a str) -> Account<'a>; 7] = [
            Account::MerchantPayable,
            Account::MerchantReserved,
            Account::ProviderReceivable,
            Account::ProviderPayouts,
            Account::ProviderFees,
            Account::HoldsProvider,
            Account::HoldsMerchant,
        ];
        kinds.into_iter().find_map(|make| {
            let (before, _, after) = make("").parts();
            let owner = name.strip_prefix(before)?.strip_suffix(after)?;
            // "merchant:m:payable" also starts "merchant:" for the reserved kind: the whole name must
            // come back.
            let account = make(owner);
            (account.to_string() == name).then_some(account)
        })
    }
}

impl fmt::Display for Account<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (before, owner, after) = self.parts();
        write!(f, "{before}{owner}{after}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_those_the_ledger_has_always_written_and_parse_back() {
        let cases = [
            (
                Account::MerchantPayable("m_demo"),
                "merchant:m_demo:payable",
            ),
            (
                Account::MerchantReserved("m_demo"),
                "merchant:m_demo:reserved",
            ),
            (
                Account::ProviderReceivable("acme"),
                "provider:acme:receivable",
            ),
            (
                Account::ProviderPayouts("transferly"),
                "provider:transferly:payouts",
            ),
            (Account::ProviderFees("bolt"), "fees:provider:bolt"),
            (Account::HoldsProvider("acme"), "holds:provider:acme"),
            (Account::HoldsMerchant("m_1"), "holds:merchant:m_1"),
            // Ids may hold ':' (the id rule allows it): the owner is everything between.
            (Account::MerchantReserved("m:x"), "merchant:m:x:reserved"),
        ];
        for (account, name) in cases {
            assert_eq!(account.name(), name);
            assert_eq!(Account::parse(name), Some(account), "{name}");
        }
        for unknown in ["merchant:m_1:pending", "provider:acme", "x", ""] {
            assert_eq!(Account::parse(unknown), None, "{unknown}");
        }
    }
}
