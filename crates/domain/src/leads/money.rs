//! Money: the payment currencies with their ISO 4217 minor units, and amounts read and
//! written with those decimals. Amounts are kept exactly, in hundredths, so no currency
//! here may have more than two decimals.

/// A currency a payment can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Currency {
    /// The ISO 4217 code.
    pub code: &'static str,
    /// ISO 4217's minor units: how many decimals its amounts are written with.
    pub minor_units: u32,
}

/// The currencies a payment can be in. The West African CFA franc (XOF) has no minor
/// unit; the others have two.
pub const CURRENCIES: &[Currency] = &[
    Currency::new("INR", 2),
    Currency::new("USD", 2),
    Currency::new("PKR", 2),
    Currency::new("AED", 2),
    Currency::new("QAR", 2),
    Currency::new("SAR", 2),
    Currency::new("MYR", 2),
    Currency::new("AUD", 2),
    Currency::new("CAD", 2),
    Currency::new("SGD", 2),
    Currency::new("XOF", 0),
];

/// The decimals hundredths can hold: the most any currency here may have.
const MAX_MINOR_UNITS: u32 = 2;

impl Currency {
    /// How an amount whose currency is not known is read and written: with the most
    /// decimals any currency here has.
    pub const UNKNOWN: Currency = Currency {
        code: "",
        minor_units: MAX_MINOR_UNITS,
    };

    const fn new(code: &'static str, minor_units: u32) -> Currency {
        assert!(
            minor_units <= MAX_MINOR_UNITS,
            "amounts are kept in hundredths"
        );
        Currency { code, minor_units }
    }

    /// The currency of an ISO 4217 code, if payments can be in it.
    pub fn find(code: &str) -> Option<Currency> {
        CURRENCIES.iter().copied().find(|c| c.code == code)
    }

    /// Reads a positive amount written with at most this currency's decimals, in
    /// hundredths: `"199.9"` is 19990 in USD, and refused in XOF.
    pub fn parse_amount(self, text: &str) -> Option<i64> {
        parse_hundredths(text, self.minor_units).filter(|h| *h > 0)
    }

    /// What an amount refused by [`Currency::parse_amount`] must be.
    pub fn amount_rule(self) -> String {
        match self.minor_units {
            0 => format!(
                "must be a positive whole number as a string: {} has no decimals",
                self.code
            ),
            n => format!("must be a positive number as a string, with at most {n} decimals"),
        }
    }

    /// Writes an amount with this currency's decimals: 19990 hundredths is `"199.90"` in
    /// USD, 500000 is `"5000"` in XOF. An amount finer than the currency's minor unit
    /// (recorded before amounts were checked against it) keeps its exact hundredths
    /// rather than being rounded.
    pub fn format(self, hundredths: i64) -> String {
        let sign = if hundredths < 0 { "-" } else { "" };
        let (whole, cents) = (
            hundredths.unsigned_abs() / 100,
            hundredths.unsigned_abs() % 100,
        );
        let finer = cents % 10u64.pow(MAX_MINOR_UNITS - self.minor_units) != 0;
        let decimals = if finer {
            MAX_MINOR_UNITS
        } else {
            self.minor_units
        };
        match decimals {
            0 => format!("{sign}{whole}"),
            n => {
                let fraction = format!("{cents:02}");
                format!("{sign}{whole}.{}", &fraction[..n as usize])
            }
        }
    }
}

/// Writes an amount of the currency `code`, with its decimals. A code outside
/// [`CURRENCIES`] (none is stored: payments are checked) gets two, the most common.
pub fn format_amount(hundredths: i64, code: &str) -> String {
    Currency::find(code)
        .unwrap_or(Currency::UNKNOWN)
        .format(hundredths)
}

/// A decimal of digits, with at most `max_decimals` decimals, in hundredths. No sign,
/// exponent or bare point; `None` when it does not fit an `i64`.
pub fn parse_hundredths(text: &str, max_decimals: u32) -> Option<i64> {
    let text = text.trim();
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) if !fraction.is_empty() => (whole, fraction),
        Some(_) => return None,
        None => (text, ""),
    };
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) {
        return None;
    }
    if fraction.len() > max_decimals.min(MAX_MINOR_UNITS) as usize {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let cents: i64 = format!("{fraction:0<2}").parse().ok()?;
    whole.checked_mul(100)?.checked_add(cents)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn usd() -> Currency {
        Currency::find("USD").unwrap()
    }

    fn xof() -> Currency {
        Currency::find("XOF").unwrap()
    }

    #[test]
    fn xof_alone_has_no_minor_unit() {
        for currency in CURRENCIES {
            let expected = if currency.code == "XOF" { 0 } else { 2 };
            assert_eq!(currency.minor_units, expected, "{}", currency.code);
        }
        assert_eq!(Currency::find("EUR"), None);
    }

    #[test]
    fn amounts_are_written_with_their_currency_s_decimals() {
        assert_eq!(usd().format(19_990), "199.90");
        assert_eq!(usd().format(500_000), "5000.00");
        assert_eq!(usd().format(7), "0.07");
        assert_eq!(usd().format(0), "0.00");
        assert_eq!(usd().format(-1_250), "-12.50");
        assert_eq!(xof().format(500_000), "5000");
        assert_eq!(format_amount(19_990, "INR"), "199.90");
        assert_eq!(format_amount(500_000, "XOF"), "5000");
        assert_eq!(format_amount(19_990, "EUR"), "199.90", "unknown: two");
    }

    #[test]
    fn finer_amounts_than_the_currency_s_unit_stay_exact() {
        assert_eq!(xof().format(10_050), "100.50");
        assert_eq!(xof().format(10_005), "100.05");
    }

    #[test]
    fn amounts_take_at_most_their_currency_s_decimals() {
        assert_eq!(usd().parse_amount("199.9"), Some(19_990));
        assert_eq!(usd().parse_amount("199.90"), Some(19_990));
        assert_eq!(usd().parse_amount("5000"), Some(500_000));
        assert_eq!(usd().parse_amount("199.901"), None);
        assert_eq!(xof().parse_amount("5000"), Some(500_000));
        for refused in ["5000.5", "5000.0", "5000.00"] {
            assert_eq!(xof().parse_amount(refused), None, "{refused}");
        }
        for refused in [
            "0", "0.00", "", "-1", "1e3", "abc", "1.", ".5", "1.2.3", "+1",
        ] {
            assert_eq!(usd().parse_amount(refused), None, "{refused}");
        }
        assert!(xof().amount_rule().contains("XOF has no decimals"));
        assert!(usd().amount_rule().contains("at most 2 decimals"));
    }

    #[test]
    fn hundredths_that_do_not_fit_are_refused() {
        assert_eq!(parse_hundredths("92233720368547758.07", 2), Some(i64::MAX));
        assert_eq!(parse_hundredths("92233720368547758.08", 2), None);
        assert_eq!(parse_hundredths("99999999999999999999", 2), None);
    }

    proptest! {
        /// What is written reads back as the same amount, in every currency.
        #[test]
        fn written_amounts_read_back(units in 1i64..1_000_000_000_000, currency in proptest::sample::select(CURRENCIES.to_vec())) {
            let hundredths = units * 10i64.pow(MAX_MINOR_UNITS - currency.minor_units);
            let written = currency.format(hundredths);
            prop_assert_eq!(currency.parse_amount(&written), Some(hundredths));
            let decimals = written.split_once('.').map_or(0, |(_, f)| f.len());
            prop_assert_eq!(decimals, currency.minor_units as usize);
        }
    }
}
