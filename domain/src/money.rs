//! Money as integer minor units of an ISO 4217 currency.
//!
//! No float ever touches an amount (ARCHITECTURE.md, invariant 6). Decimal text is parsed
//! digit by digit into [`rust_decimal::Decimal`]; converting a decimal to minor units either
//! demands exactness ([`Money::from_major_exact`]) or names its rounding
//! ([`Money::from_major_half_even`]). Arithmetic is checked: overflow is an error.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// An ISO 4217 currency that has minor units (its exponent is defined: JPY 0, USD 2, BHD 3).
/// Funds and metals such as XAU, whose exponent ISO 4217 leaves undefined, are refused.
///
/// Serialised as its three-letter alphabetic code, e.g. `"EUR"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(iso_currency::Currency);

/// Why an amount or currency was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Not an ISO 4217 alphabetic code, or one without minor units.
    #[error("unknown currency {0:?}: expected an ISO 4217 code with minor units, such as EUR")]
    UnknownCurrency(String),
    /// The amount has more decimal places than the currency's exponent allows.
    #[error("{amount} has more decimal places than {currency} allows ({exponent})")]
    TooPrecise {
        /// The amount as given.
        amount: String,
        /// The currency's code.
        currency: Currency,
        /// Its ISO 4217 exponent.
        exponent: u32,
    },
    /// The result does not fit in a signed 64-bit count of minor units.
    #[error("amount out of range: it must fit in a signed 64-bit number of minor units")]
    Overflow,
    /// Two amounts of different currencies met in one operation.
    #[error("currency mismatch: {0} and {1}")]
    CurrencyMismatch(Currency, Currency),
    /// Decimal text that is not a number.
    #[error("not a decimal number: {0:?}")]
    NotANumber(String),
}

impl Currency {
    /// Looks up an ISO 4217 alphabetic code (case-insensitive, surrounding space ignored).
    ///
    /// # Errors
    /// [`MoneyError::UnknownCurrency`] for unknown codes and for codes without an exponent.
    pub fn from_code(code: &str) -> Result<Self, MoneyError> {
        let upper = code.trim().to_ascii_uppercase();
        match iso_currency::Currency::from_code(&upper) {
            Some(c) if c.exponent().is_some() => Ok(Self(c)),
            _ => Err(MoneyError::UnknownCurrency(code.to_owned())),
        }
    }

    /// The three-letter code, e.g. `"JPY"`.
    pub fn code(self) -> &'static str {
        self.0.code()
    }

    /// The ISO 4217 exponent: the number of decimal places of the minor unit.
    pub fn exponent(self) -> u32 {
        // `from_code` admits only currencies whose exponent is defined.
        u32::from(self.0.exponent().unwrap_or(0))
    }

    /// The underlying `iso_currency` value.
    pub fn iso(self) -> iso_currency::Currency {
        self.0
    }
}

impl TryFrom<iso_currency::Currency> for Currency {
    type Error = MoneyError;
    fn try_from(value: iso_currency::Currency) -> Result<Self, Self::Error> {
        Self::from_code(value.code())
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::from_code(&value)
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> Self {
        value.code().to_owned()
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_code(s)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An amount of money: a signed count of the currency's minor units.
///
/// JSON shape: `{"amount_minor": 123456, "currency": "EUR"}` (EUR 1,234.56). `amount_minor`
/// must be a JSON integer within `i64`; a fraction, a float or a larger number is refused
/// by deserialisation; unknown fields are refused too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"amount_minor": 123456, "currency": "EUR"}))]
pub struct Money {
    /// The amount in minor units (cents for USD, yen for JPY, fils for BHD).
    pub amount_minor: i64,
    /// The ISO 4217 currency.
    #[schema(value_type = String, pattern = "^[A-Z]{3}$", example = "EUR")]
    pub currency: Currency,
}

impl Money {
    /// `amount_minor` minor units of `currency`.
    pub fn new(amount_minor: i64, currency: Currency) -> Self {
        Self {
            amount_minor,
            currency,
        }
    }

    /// Converts an amount in major units to minor units, demanding exactness.
    ///
    /// # Errors
    /// [`MoneyError::TooPrecise`] if the amount has more decimal places than the currency's
    /// exponent; [`MoneyError::Overflow`] if it does not fit in `i64` minor units.
    pub fn from_major_exact(amount: Decimal, currency: Currency) -> Result<Self, MoneyError> {
        let minor = Self::scale(amount, currency)?;
        if minor.fract() != Decimal::ZERO {
            return Err(MoneyError::TooPrecise {
                amount: amount.normalize().to_string(),
                currency,
                exponent: currency.exponent(),
            });
        }
        Self::to_i64(minor).map(|m| Self::new(m, currency))
    }

    /// Converts an amount in major units to minor units, rounding half to even ("banker's
    /// rounding", IEEE 754 roundTiesToEven) to the currency's exponent.
    ///
    /// # Errors
    /// [`MoneyError::Overflow`] if the result does not fit in `i64` minor units.
    pub fn from_major_half_even(amount: Decimal, currency: Currency) -> Result<Self, MoneyError> {
        let minor = Self::scale(amount, currency)?
            .round_dp_with_strategy(0, RoundingStrategy::MidpointNearestEven);
        Self::to_i64(minor).map(|m| Self::new(m, currency))
    }

    /// Parses decimal text in major units (`"1234.56"`, `"-0.5"`), exactly, without floats.
    ///
    /// # Errors
    /// [`MoneyError::NotANumber`], [`MoneyError::TooPrecise`], [`MoneyError::Overflow`].
    pub fn parse_major(text: &str, currency: Currency) -> Result<Self, MoneyError> {
        let text = text.trim();
        let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
        let valid = unsigned.chars().any(|c| c.is_ascii_digit())
            && unsigned.chars().all(|c| c.is_ascii_digit() || c == '.')
            && unsigned.matches('.').count() <= 1;
        if !valid {
            return Err(MoneyError::NotANumber(text.to_owned()));
        }
        let integer_digits = unsigned.split('.').next().unwrap_or("");
        if integer_digits.trim_start_matches('0').len() > 19 {
            // i64::MAX has 19 digits; scaling to minor units only makes it larger.
            return Err(MoneyError::Overflow);
        }
        let amount = Decimal::from_str_exact(text).map_err(|_| MoneyError::TooPrecise {
            amount: text.to_owned(),
            currency,
            exponent: currency.exponent(),
        })?;
        Self::from_major_exact(amount, currency)
    }

    /// The amount in major units as an exact decimal (EUR 123456 minor is 1234.56).
    pub fn to_major(self) -> Decimal {
        Decimal::from_i128_with_scale(i128::from(self.amount_minor), self.currency.exponent())
    }

    /// The sum of two amounts of one currency.
    ///
    /// # Errors
    /// [`MoneyError::CurrencyMismatch`] or [`MoneyError::Overflow`].
    pub fn checked_add(self, other: Self) -> Result<Self, MoneyError> {
        self.same_currency(other)?;
        self.amount_minor
            .checked_add(other.amount_minor)
            .map(|m| Self::new(m, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    /// The difference of two amounts of one currency.
    ///
    /// # Errors
    /// [`MoneyError::CurrencyMismatch`] or [`MoneyError::Overflow`].
    pub fn checked_sub(self, other: Self) -> Result<Self, MoneyError> {
        self.same_currency(other)?;
        self.amount_minor
            .checked_sub(other.amount_minor)
            .map(|m| Self::new(m, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    /// The amount times an integer (a quantity).
    ///
    /// # Errors
    /// [`MoneyError::Overflow`].
    pub fn checked_mul(self, factor: i64) -> Result<Self, MoneyError> {
        self.amount_minor
            .checked_mul(factor)
            .map(|m| Self::new(m, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    fn same_currency(self, other: Self) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch(self.currency, other.currency))
        }
    }

    fn scale(amount: Decimal, currency: Currency) -> Result<Decimal, MoneyError> {
        amount
            .checked_mul(Decimal::from(10_i64.pow(currency.exponent())))
            .ok_or(MoneyError::Overflow)
    }

    fn to_i64(minor: Decimal) -> Result<i64, MoneyError> {
        use rust_decimal::prelude::ToPrimitive;
        minor.to_i64().ok_or(MoneyError::Overflow)
    }
}

impl fmt::Display for Money {
    /// `EUR 1234.56`, `JPY 500`, `BHD 1.250`: the code, then the exact major amount with
    /// as many decimals as the exponent.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.currency, self.to_major())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cur(code: &str) -> Currency {
        Currency::from_code(code).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn exponents_follow_iso_4217() {
        assert_eq!(cur("JPY").exponent(), 0);
        assert_eq!(cur("usd").exponent(), 2);
        assert_eq!(cur("BHD").exponent(), 3);
        assert!(
            Currency::from_code("XAU").is_err(),
            "metals have no minor unit"
        );
        assert!(Currency::from_code("ABC").is_err());
    }

    #[test]
    fn parses_major_text_exactly() {
        assert_eq!(
            Money::parse_major("1234.56", cur("EUR")),
            Ok(Money::new(123_456, cur("EUR")))
        );
        assert_eq!(
            Money::parse_major("500", cur("JPY")),
            Ok(Money::new(500, cur("JPY")))
        );
        assert_eq!(
            Money::parse_major("1.250", cur("BHD")),
            Ok(Money::new(1_250, cur("BHD")))
        );
        assert_eq!(
            Money::parse_major("-0.01", cur("USD")),
            Ok(Money::new(-1, cur("USD")))
        );
        assert!(matches!(
            Money::parse_major("0.5", cur("JPY")),
            Err(MoneyError::TooPrecise { .. })
        ));
        assert!(matches!(
            Money::parse_major("1.234", cur("USD")),
            Err(MoneyError::TooPrecise { .. })
        ));
        for bad in ["", "1e5", "1,000", "abc", "1.2.3", "--1", "-", ".", "+-5"] {
            assert!(
                Money::parse_major(bad, cur("USD")).is_err(),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn edges_of_i64_are_exact_and_past_them_is_overflow() {
        let max = Money::parse_major("92233720368547758.07", cur("USD"));
        assert_eq!(max, Ok(Money::new(i64::MAX, cur("USD"))));
        assert_eq!(
            Money::parse_major("92233720368547758.08", cur("USD")),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Money::parse_major("99999999999999999999999999999", cur("USD")),
            Err(MoneyError::Overflow)
        );
        let one = Money::new(1, cur("USD"));
        assert_eq!(
            Money::new(i64::MAX, cur("USD")).checked_add(one),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Money::new(i64::MIN, cur("USD")).checked_sub(one),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Money::new(i64::MAX / 2 + 1, cur("USD")).checked_mul(2),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn never_adds_different_currencies() {
        let usd = Money::new(100, cur("USD"));
        let eur = Money::new(100, cur("EUR"));
        assert_eq!(
            usd.checked_add(eur),
            Err(MoneyError::CurrencyMismatch(cur("USD"), cur("EUR")))
        );
        assert_eq!(usd.checked_add(usd), Ok(Money::new(200, cur("USD"))));
    }

    #[test]
    fn half_even_rounding_is_named_and_correct() {
        let r = |s: &str, c: &str| {
            Money::from_major_half_even(s.parse::<Decimal>().unwrap_or_default(), cur(c))
                .map(|m| m.amount_minor)
        };
        assert_eq!(r("0.125", "USD"), Ok(12));
        assert_eq!(r("0.135", "USD"), Ok(14));
        assert_eq!(r("-0.125", "USD"), Ok(-12));
        assert_eq!(r("2.5", "JPY"), Ok(2));
        assert_eq!(r("3.5", "JPY"), Ok(4));
    }

    #[test]
    fn json_shape_is_strict() {
        let ok: Result<Money, _> =
            serde_json::from_str(r#"{"amount_minor": 123456, "currency": "EUR"}"#);
        assert_eq!(ok.ok(), Some(Money::new(123_456, cur("EUR"))));
        for bad in [
            r#"{"amount_minor": 1.5, "currency": "EUR"}"#,
            r#"{"amount_minor": 9223372036854775808, "currency": "EUR"}"#,
            r#"{"amount_minor": "12", "currency": "EUR"}"#,
            r#"{"amount_minor": 12, "currency": "EURO"}"#,
            r#"{"amount_minor": 12, "currency": "EUR", "x": 1}"#,
        ] {
            assert!(
                serde_json::from_str::<Money>(bad).is_err(),
                "{bad} accepted"
            );
        }
        assert_eq!(Money::new(123_456, cur("EUR")).to_string(), "EUR 1234.56");
        assert_eq!(Money::new(1_250, cur("BHD")).to_string(), "BHD 1.250");
    }
}
