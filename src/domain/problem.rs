//! Configuration problems: each component validates its own section into a [`Checks`], and the
//! top-level configuration reports them all at once, each naming its field and the fix.

/// A configuration problem: where it is, what is wrong, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub message: String,
    pub fix: String,
}

/// Collects problems of one section, naming fields as `<section>.<field>`.
pub struct Checks<'a> {
    section: &'a str,
    problems: &'a mut Vec<Problem>,
}

impl<'a> Checks<'a> {
    pub fn new(section: &'a str, problems: &'a mut Vec<Problem>) -> Self {
        Self { section, problems }
    }

    /// Records a problem with `field` unless `ok`.
    pub fn check(&mut self, ok: bool, field: &str, message: String, fix: &str) {
        if !ok {
            self.problems.push(Problem {
                field: format!("{}.{field}", self.section),
                message,
                fix: fix.into(),
            });
        }
    }

    /// `value` must lie within `range`; the message names the range.
    pub fn within<T>(
        &mut self,
        value: T,
        range: std::ops::RangeInclusive<T>,
        field: &str,
        fix: &str,
    ) where
        T: PartialOrd + std::fmt::Display,
    {
        let ok = range.contains(&value);
        let message = format!("{value} is outside {}..={}", range.start(), range.end());
        self.check(ok, field, message, fix);
    }
}
