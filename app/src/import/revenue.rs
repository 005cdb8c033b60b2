//! Reading the messy Wikipedia-infobox text found in the "Annual Revenue" and
//! "Number of Employees" columns of the company CSV import.
//!
//! Everything is exact: digits are parsed straight into [`Decimal`] and scale
//! words are applied with checked multiplication. No floating point is used.
//!
//! Number shapes understood by both parsers:
//! * digits, optionally grouped in threes by commas (`"1,234,567"`) or single
//!   spaces (`"9 000"`); the first group has 1–3 digits and no leading zero;
//! * an optional decimal point (revenue, or a count with a scale word):
//!   `"24.17"`. A comma never acts as a decimal point, so `"1441,1"` is rejected.
//! * scale words, case-insensitive: `thousand`/`k` (10³), `million`/`mln`/`mio`/
//!   `mn`/`m` (10⁶), `billion`/`bln`/`bn`/`b` (10⁹), `trillion`/`tn` (10¹²),
//!   also glued to a code or number (`"SEKm 147,147"`, `"$405.3M"`).

use iso_currency::Currency;
use rust_decimal::Decimal;

/// Result of reading a revenue cell with [`parse_revenue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevenueText {
    /// Empty (or whitespace-only) cell.
    Empty,
    /// An exact amount: `amount` in MAJOR units of `currency` (e.g.
    /// 24_170_000_000 for "US$ 24.17 billion"), normalised (no trailing zeros),
    /// always a whole number of the currency's minor units. `year` is the first
    /// year (1900–2100) named in the first parenthesis after the amount, if any.
    Exact {
        /// Amount in major units of `currency`.
        amount: Decimal,
        /// Currency the amount is written in (not necessarily the listing currency).
        currency: Currency,
        /// Year the figure refers to, when the text names one.
        year: Option<i32>,
    },
    /// Could not be made exact and unambiguous; `reason` is a short, non-empty
    /// human sentence for the import report, e.g. "currency symbol ¥ is
    /// ambiguous (JPY or CNY) and the listing currency (GBP) does not settle it".
    Ambiguous {
        /// Why the cell was not read as an exact amount.
        reason: String,
    },
}

/// Reads a revenue cell such as `"US$ 24.17 billion (2024)"`.
///
/// Shape: `[currency markers] NUMBER [scale] [currency markers] [notes]`, e.g.
/// `"€995.6 million (2024)"`, `"247.880 billion kr (2024)"`, `"SEKm 147,147 (2023)"`,
/// `"$ 9.44 billion USD ( FY 2022) (¥ 1,278 billion JPY )"`.
///
/// Rules:
/// * Only the FIRST amount is read (the most recent in these infoboxes); later
///   amounts, footnote markers (`": 48"`) and parenthesised notes are ignored,
///   except that the year is taken from the first parenthesis after the amount
///   (first run of exactly four digits in 1900–2100, up to the first `)`).
/// * Numbers: see the module docs. A dot followed by exactly three digits is a
///   decimal point only when a scale word follows (`"247.880 billion"` is
///   247.88 billion); without one (`"1.419 yen"`) it could be a thousands
///   separator, so the cell is Ambiguous.
/// * Currency: every marker before and after the number must agree (`"JPY ¥"`,
///   `"$ … USD"`, `"US$ $"`). Unambiguous markers map directly (`US$`, `€`,
///   `£`, `JP¥`, `CN¥`/`RMB`, `SFr`, `euro`, `yen`, any ISO 4217 code in
///   capitals, …). `$`/`dollar` (USD, CAD, AUD, NZD, HKD, SGD), `¥` (JPY, CNY)
///   and `kr` (SEK, NOK, DKK, ISK) are settled by `listing_currency` only when
///   it is one of the candidates. No currency at all is Ambiguous.
/// * Bounds and approximations (`>`, `<`, `+`, `~`, `≈`, `over`, `about`,
///   `approx.`, `circa`) are not exact amounts and give Ambiguous.
/// * `amount × 10^exponent` must be an integer for the chosen currency, and all
///   arithmetic is checked; failures give Ambiguous with a reason.
pub fn parse_revenue(text: &str, listing_currency: Option<Currency>) -> RevenueText {
    let text = text.trim();
    if text.is_empty() {
        return RevenueText::Empty;
    }
    read_revenue(text, listing_currency).unwrap_or_else(|reason| RevenueText::Ambiguous { reason })
}

/// Employee count from text like `"94,000 (2024)"`, `"c. 34,000 (2024)"`,
/// `"~95,000 : 5 (2025)"` or `"Over 1 million (est.)"`.
///
/// Returns `Ok(None)` for an empty cell and `Err(reason)` for text with no
/// (single, whole) count. The count is the first number outside parentheses;
/// any words before it (`"c."`, `"approx."`, `"More than"`, `"Konami (total)"`)
/// and notes after it are ignored, and a trailing `+` (`"360,000+"`) is read as
/// the stated figure. Digits may be grouped by commas, single spaces or dots:
/// since a head count is whole, `"14.046"` is 14,046 (a dot is a decimal point
/// only before a scale word, as in `"1.5 million"`). A range (`"6,000 - 8,000"`)
/// or a figure that is not a whole number is an error.
pub fn parse_employees(text: &str) -> Result<Option<i64>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let start = first_digit_outside_parentheses(text)
        .ok_or_else(|| format!("no employee count in \"{text}\""))?;
    let (raw, rest) = split_number(&text[start..]);
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('+').unwrap_or(rest).trim_start();
    let (scale, rest) = match marker(rest) {
        Some((Marker::Scale(power), _, after)) => (Some(power), after),
        _ => (None, rest),
    };
    let after_dash = rest.trim_start().strip_prefix(['-', '–']);
    if after_dash.is_some_and(|r| r.trim_start().starts_with(|c: char| c.is_ascii_digit())) {
        return Err(format!("\"{text}\" gives a range, not a count"));
    }
    let dot = if scale.is_some() {
        Dot::Decimal
    } else {
        Dot::Thousands
    };
    let too_large = || format!("\"{text}\" is too large for a count");
    let count = parse_number(raw, dot)?
        .checked_mul(pow10(scale.unwrap_or(0)))
        .ok_or_else(too_large)?;
    if !count.fract().is_zero() {
        return Err(format!("\"{text}\" is not a whole number of employees"));
    }
    i64::try_from(count).map(Some).map_err(|_| too_large())
}

const DOLLARS: &[Currency] = &[
    Currency::USD,
    Currency::CAD,
    Currency::AUD,
    Currency::NZD,
    Currency::HKD,
    Currency::SGD,
];
const YEN_OR_YUAN: &[Currency] = &[Currency::JPY, Currency::CNY];
const KRONA: &[Currency] = &[Currency::SEK, Currency::NOK, Currency::DKK, Currency::ISK];

/// A token found next to the number.
#[derive(Debug, Clone, PartialEq)]
enum Marker {
    /// A currency marker and the currencies it may stand for.
    Money(Vec<Currency>),
    /// A scale word, as a power of ten.
    Scale(u32),
    /// A bound or approximation such as `>` or `~`.
    Inexact,
}

/// Kinds of marker in [`MARKERS`], before ISO codes are tried.
enum Kind {
    Money(&'static [Currency]),
    Scale(u32),
    Inexact,
}

/// Markers, matched case-insensitively in this order. A marker ending in a
/// letter must not be followed by another letter.
const MARKERS: &[(&str, Kind)] = &[
    ("united states dollars", Kind::Money(&[Currency::USD])),
    ("united states dollar", Kind::Money(&[Currency::USD])),
    ("us dollars", Kind::Money(&[Currency::USD])),
    ("us dollar", Kind::Money(&[Currency::USD])),
    ("us $", Kind::Money(&[Currency::USD])),
    ("us$", Kind::Money(&[Currency::USD])),
    ("ca$", Kind::Money(&[Currency::CAD])),
    ("c$", Kind::Money(&[Currency::CAD])),
    ("au$", Kind::Money(&[Currency::AUD])),
    ("a$", Kind::Money(&[Currency::AUD])),
    ("nz$", Kind::Money(&[Currency::NZD])),
    ("hk$", Kind::Money(&[Currency::HKD])),
    ("s$", Kind::Money(&[Currency::SGD])),
    ("r$", Kind::Money(&[Currency::BRL])),
    ("dollars", Kind::Money(DOLLARS)),
    ("dollar", Kind::Money(DOLLARS)),
    ("$", Kind::Money(DOLLARS)),
    ("€", Kind::Money(&[Currency::EUR])),
    ("euros", Kind::Money(&[Currency::EUR])),
    ("euro", Kind::Money(&[Currency::EUR])),
    ("£", Kind::Money(&[Currency::GBP])),
    ("jp¥", Kind::Money(&[Currency::JPY])),
    ("yen", Kind::Money(&[Currency::JPY])),
    ("cn¥", Kind::Money(&[Currency::CNY])),
    ("rmb", Kind::Money(&[Currency::CNY])),
    ("yuan", Kind::Money(&[Currency::CNY])),
    ("¥", Kind::Money(YEN_OR_YUAN)),
    ("kr", Kind::Money(KRONA)),
    ("sfr", Kind::Money(&[Currency::CHF])),
    ("₹", Kind::Money(&[Currency::INR])),
    ("₩", Kind::Money(&[Currency::KRW])),
    ("trillion", Kind::Scale(12)),
    ("tn", Kind::Scale(12)),
    ("billion", Kind::Scale(9)),
    ("bln", Kind::Scale(9)),
    ("bn", Kind::Scale(9)),
    ("b", Kind::Scale(9)),
    ("million", Kind::Scale(6)),
    ("mln", Kind::Scale(6)),
    ("mio", Kind::Scale(6)),
    ("mn", Kind::Scale(6)),
    ("m", Kind::Scale(6)),
    ("thousand", Kind::Scale(3)),
    ("k", Kind::Scale(3)),
    (">", Kind::Inexact),
    ("<", Kind::Inexact),
    ("+", Kind::Inexact),
    ("~", Kind::Inexact),
    ("≈", Kind::Inexact),
    ("over", Kind::Inexact),
    ("about", Kind::Inexact),
    ("approximately", Kind::Inexact),
    ("approx", Kind::Inexact),
    ("circa", Kind::Inexact),
];

/// Matches one marker at the start of `s` (an abbreviation dot after a word is
/// consumed too), falling back to a capitalised ISO 4217 code not followed by
/// another capital. Returns the marker, the matched text and the rest.
fn marker(s: &str) -> Option<(Marker, &str, &str)> {
    for (pattern, kind) in MARKERS {
        let Some(rest) = s
            .get(..pattern.len())
            .filter(|head| head.eq_ignore_ascii_case(pattern))
            .map(|_| &s[pattern.len()..])
        else {
            continue;
        };
        let is_word = pattern.ends_with(|c: char| c.is_alphabetic());
        if is_word && rest.starts_with(char::is_alphabetic) {
            continue;
        }
        let rest = if is_word {
            rest.strip_prefix('.').unwrap_or(rest)
        } else {
            rest
        };
        let found = match kind {
            Kind::Money(currencies) => Marker::Money(currencies.to_vec()),
            Kind::Scale(power) => Marker::Scale(*power),
            Kind::Inexact => Marker::Inexact,
        };
        return Some((found, &s[..pattern.len()], rest));
    }
    let code = s
        .get(..3)
        .filter(|c| c.bytes().all(|b| b.is_ascii_uppercase()))?;
    let rest = &s[3..];
    if rest.starts_with(|c: char| c.is_ascii_uppercase()) {
        return None;
    }
    Currency::from_code(code).map(|currency| (Marker::Money(vec![currency]), code, rest))
}

/// The number, scale and currency markers collected around the first amount.
#[derive(Default)]
struct Reading<'a> {
    scale: Option<u32>,
    currencies: Vec<(&'a str, Vec<Currency>)>,
}

impl<'a> Reading<'a> {
    fn add(&mut self, found: Marker, text: &'a str) -> Result<(), String> {
        match found {
            Marker::Money(currencies) => self.currencies.push((text, currencies)),
            Marker::Scale(power) => {
                if self.scale.replace(power).is_some() {
                    return Err(format!(
                        "\"{text}\" is a second scale word for the same amount"
                    ));
                }
            }
            Marker::Inexact => {
                return Err(format!(
                    "\"{text}\" marks a bound or approximation, not an exact amount"
                ));
            }
        }
        Ok(())
    }

    /// Intersects the candidates of all currency markers, then lets the
    /// listing currency settle a choice that is still open.
    fn currency(&self, listing: Option<Currency>) -> Result<Currency, String> {
        let Some(((_, first), others)) = self.currencies.split_first() else {
            return Err("no currency is given for the amount".into());
        };
        let mut candidates = first.clone();
        for (_, currencies) in others {
            candidates.retain(|c| currencies.contains(c));
        }
        let symbols = self
            .currencies
            .iter()
            .map(|(text, _)| *text)
            .collect::<Vec<_>>()
            .join(" ");
        match candidates.as_slice() {
            [] => Err(format!(
                "currency markers \"{symbols}\" contradict each other"
            )),
            [one] => Ok(*one),
            many => listing.filter(|l| many.contains(l)).ok_or_else(|| {
                let codes: Vec<&str> = many.iter().map(|c| c.code()).collect();
                let (last, init) = codes.split_last().unwrap_or((&"", &[]));
                let listing = listing.map_or("none", |l| l.code());
                format!(
                    "currency symbol {symbols} is ambiguous ({} or {last}) and the listing \
                     currency ({listing}) does not settle it",
                    init.join(", ")
                )
            }),
        }
    }
}

fn read_revenue(text: &str, listing: Option<Currency>) -> Result<RevenueText, String> {
    let Some(digit) = text.find(|c: char| c.is_ascii_digit()) else {
        return Err(format!("no amount in \"{text}\""));
    };
    let mut reading = Reading::default();
    let mut rest = text.trim_start();
    while !rest.starts_with(|c: char| c.is_ascii_digit()) {
        let (found, matched, after) = marker(rest).ok_or_else(|| {
            format!(
                "\"{}\" before the amount is not a currency",
                text[..digit].trim()
            )
        })?;
        reading.add(found, matched)?;
        rest = after.trim_start();
    }
    let (raw, mut rest) = split_number(rest);
    while let Some((found, matched, after)) = marker(rest.trim_start()) {
        if matches!(found, Marker::Money(_))
            && after.trim_start().starts_with(|c: char| c.is_ascii_digit())
        {
            break; // the marker of a second amount
        }
        reading.add(found, matched)?;
        rest = after;
    }

    let number = parse_number(raw, Dot::Decimal)?;
    if reading.scale.is_none() && raw.rsplit_once('.').is_some_and(|(_, f)| f.len() == 3) {
        return Err(format!(
            "the dot in \"{raw}\" could be a decimal point or a thousands separator"
        ));
    }
    let amount = number
        .checked_mul(pow10(reading.scale.unwrap_or(0)))
        .ok_or_else(|| format!("\"{text}\" is too large to represent exactly"))?
        .normalize();
    let currency = reading.currency(listing)?;
    let exponent = currency
        .exponent()
        .ok_or_else(|| format!("{} has no minor unit", currency.code()))?;
    let minor = amount.checked_mul(pow10(exponent.into()));
    if !minor.is_some_and(|m| m.fract().is_zero()) {
        return Err(format!(
            "{amount} {} is not a whole number of minor units",
            currency.code()
        ));
    }
    Ok(RevenueText::Exact {
        amount,
        currency,
        year: year_in_first_parenthesis(rest),
    })
}

/// How a dot inside a number is read.
#[derive(Clone, Copy)]
enum Dot {
    /// The first dot is a decimal point.
    Decimal,
    /// Dots separate thousands, like commas.
    Thousands,
}

/// Splits a leading number (digits; `,` or `.` before a digit; a space before
/// exactly three digits) from the rest of `s`.
fn split_number(s: &str) -> (&str, &str) {
    let bytes = s.as_bytes();
    let digit_at = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_digit);
    let mut end = 0;
    while end < bytes.len() {
        let more = match bytes[end] {
            b'0'..=b'9' => true,
            b',' | b'.' => digit_at(end + 1),
            b' ' => (1..=3).all(|k| digit_at(end + k)) && !digit_at(end + 4),
            _ => false,
        };
        if !more {
            break;
        }
        end += 1;
    }
    s.split_at(end)
}

/// Parses a number from [`split_number`] into an exact [`Decimal`]; grouped
/// digits must form a 1–3 digit leading group (no leading zero) and groups of
/// exactly three, all with the same separator.
fn parse_number(raw: &str, dot: Dot) -> Result<Decimal, String> {
    let (int, frac) = match dot {
        Dot::Decimal => raw.split_once('.').unwrap_or((raw, "")),
        Dot::Thousands => (raw, ""),
    };
    let digits = |g: &str| g.bytes().all(|b| b.is_ascii_digit());
    let well_formed = match int.find(|c: char| !c.is_ascii_digit()) {
        None => true,
        Some(at) => {
            let separator = int[at..].chars().next().unwrap_or(',');
            let mut groups = int.split(separator);
            let first = groups.next().unwrap_or_default();
            first.len() <= 3 && !first.starts_with('0') && groups.all(|g| g.len() == 3 && digits(g))
        }
    };
    if !well_formed || !digits(frac) {
        return Err(format!(
            "\"{raw}\" does not group its digits in threes, so its separators are unclear (decimal comma?)"
        ));
    }
    let mut plain: String = int.chars().filter(char::is_ascii_digit).collect();
    if !frac.is_empty() {
        plain = format!("{plain}.{frac}");
    }
    Decimal::from_str_exact(&plain).map_err(|_| format!("\"{raw}\" has too many digits"))
}

fn pow10(power: u32) -> Decimal {
    Decimal::from(10_i64.pow(power))
}

/// First year (four digits, 1900–2100) in the first parenthesis of `s`, which
/// runs to the first `)` or the end of the text.
fn year_in_first_parenthesis(s: &str) -> Option<i32> {
    let (_, inner) = s.split_once('(')?;
    let inner = inner.split(')').next().unwrap_or_default();
    inner
        .split(|c: char| !c.is_ascii_digit())
        .filter(|run| run.len() == 4)
        .filter_map(|run| run.parse().ok())
        .find(|year| (1900..=2100).contains(year))
}

fn first_digit_outside_parentheses(s: &str) -> Option<usize> {
    let mut depth = 0_usize;
    s.char_indices().find_map(|(i, c)| {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 && c.is_ascii_digit() => return Some(i),
            _ => {}
        }
        None
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn exact(text: &str, listing: Option<Currency>) -> (Decimal, Currency, Option<i32>) {
        match parse_revenue(text, listing) {
            RevenueText::Exact {
                amount,
                currency,
                year,
            } => (amount, currency, year),
            other => panic!("{text:?} gave {other:?}"),
        }
    }

    fn ambiguous(text: &str, listing: Option<Currency>) -> String {
        match parse_revenue(text, listing) {
            RevenueText::Ambiguous { reason } => {
                assert!(!reason.is_empty(), "{text:?}: empty reason");
                reason
            }
            other => panic!("{text:?} gave {other:?}"),
        }
    }

    #[test]
    fn brief_examples() {
        use Currency::*;
        let cases = [
            (
                "US$ 24.17 billion (2024)",
                None,
                "24170000000",
                USD,
                Some(2024),
            ),
            (
                "247.880 billion kr (2024)",
                Some(SEK),
                "247880000000",
                SEK,
                Some(2024),
            ),
            (
                "¥ 3,557.4 billion (FY 2024)",
                Some(JPY),
                "3557400000000",
                JPY,
                Some(2024),
            ),
            (
                "SEKm 147,147 (2023)",
                Some(EUR),
                "147147000000",
                SEK,
                Some(2023),
            ),
            (
                "€995.6 million (2024)",
                Some(EUR),
                "995600000",
                EUR,
                Some(2024),
            ),
            (
                "$4.981 billion (2022) $3.318 billion (2021)",
                Some(USD),
                "4981000000",
                USD,
                Some(2022),
            ),
            (
                "£ 425.1 million (2025)",
                Some(EUR),
                "425100000",
                GBP,
                Some(2025),
            ),
            (
                "US$ 936.9 Million ( Fiscal Year Ended December 31, 2020 )",
                None,
                "936900000",
                USD,
                Some(2020),
            ),
            (
                "JP¥ 490 billion ( FY 2014) ( US$ 4.1 billion) (FY 2014)",
                Some(GBP),
                "490000000000",
                JPY,
                Some(2014),
            ),
            (
                "US$ 41.9 billion : 48 (2025)",
                Some(EUR),
                "41900000000",
                USD,
                Some(2025),
            ),
            (
                "US$1.132 billion (2018)",
                None,
                "1132000000",
                USD,
                Some(2018),
            ),
        ];
        for (text, listing, amount, currency, year) in cases {
            assert_eq!(
                exact(text, listing),
                (dec(amount), currency, year),
                "{text}"
            );
        }
    }

    #[test]
    fn other_shapes_from_the_data() {
        use Currency::*;
        let cases = [
            (
                "$ 9.44 billion USD ( FY 2022) (¥ 1,278 billion JPY )",
                Some(JPY),
                "9440000000",
                USD,
                Some(2022),
            ),
            (
                "JPY ¥ 5,132 billion ( FY 2022)",
                None,
                "5132000000000",
                JPY,
                Some(2022),
            ),
            (
                "US$ $11.07 billion (2024)",
                Some(EUR),
                "11070000000",
                USD,
                Some(2024),
            ),
            (
                "US $ 1.57 billion (2024)",
                None,
                "1570000000",
                USD,
                Some(2024),
            ),
            (
                "USD $985.683 million (2017) $917.600 million (2016)",
                None,
                "985683000",
                USD,
                Some(2017),
            ),
            (
                "1.201 billion USD$ (2008)",
                None,
                "1201000000",
                USD,
                Some(2008),
            ),
            (
                "140.7 kr billion (2023)",
                Some(SEK),
                "140700000000",
                SEK,
                Some(2023),
            ),
            (
                "918 Mio.€ (December 2017)",
                None,
                "918000000",
                EUR,
                Some(2017),
            ),
            (
                "11,743,000,000 euro (2023)",
                None,
                "11743000000",
                EUR,
                Some(2023),
            ),
            (
                "22,726,418,000 United States dollar (2022)",
                None,
                "22726418000",
                USD,
                Some(2022),
            ),
            (
                "1,672,377,000,000 yen (2023)",
                None,
                "1672377000000",
                JPY,
                Some(2023),
            ),
            ("€ 7.2B (2018)", None, "7200000000", EUR, Some(2018)),
            ("US$3.23bn (FY 2023)", None, "3230000000", USD, Some(2023)),
            ("US$2.9billion (2016)", None, "2900000000", USD, Some(2016)),
            ("$405.3M", Some(USD), "405300000", USD, None),
            (
                "¥28,712,177 thousand ( FY 2020)",
                Some(JPY),
                "28712177000",
                JPY,
                Some(2020),
            ),
            (
                "SEK 88.561 billion € 7.712 billion (2023)",
                None,
                "88561000000",
                SEK,
                Some(2023),
            ),
            (
                "SFr 26.4 billion (2024)",
                Some(USD),
                "26400000000",
                CHF,
                Some(2024),
            ),
            ("5.2 bn EUR (2022)", None, "5200000000", EUR, Some(2022)),
            (
                "$1.2 billion net sales (FY 2025)",
                Some(USD),
                "1200000000",
                USD,
                Some(2025),
            ),
            (
                "¥ 818.8 billion JPY ) ( FY 2023)",
                None,
                "818800000000",
                JPY,
                Some(2023),
            ),
            (
                "$298,836,000 (2022)",
                Some(USD),
                "298836000",
                USD,
                Some(2022),
            ),
            ("€ 5.4 billion", None, "5400000000", EUR, None),
            ("US$ 1.2345 million", None, "1234500", USD, None),
        ];
        for (text, listing, amount, currency, year) in cases {
            assert_eq!(
                exact(text, listing),
                (dec(amount), currency, year),
                "{text}"
            );
        }
        // The year is only read from the first parenthesis after the amount.
        assert_eq!(
            exact("¥ 20.43 trillion ( US$ 186.18 billion) (2024)", Some(JPY)).2,
            None
        );
    }

    #[test]
    fn ambiguous_symbols_settled_only_by_a_candidate_listing_currency() {
        use Currency::*;
        assert_eq!(exact("$5 billion", Some(USD)).1, USD);
        assert_eq!(exact("$5 billion", Some(CAD)).1, CAD);
        assert_eq!(exact("$5 billion", Some(SGD)).1, SGD);
        assert_eq!(exact("¥ 1.35 trillion (2024)", Some(JPY)).1, JPY);
        assert_eq!(exact("¥ 1.35 trillion (2024)", Some(CNY)).1, CNY);
        assert_eq!(exact("81.73 billion kr (2021)", Some(NOK)).1, NOK);
        for (text, listing) in [
            ("$ 6,164 million (2025)", Some(EUR)),
            ("$5 billion", None),
            ("¥4.03 trillion ( US$30.31 billion ) (2022)", Some(GBP)),
            ("¥ 1.35 trillion (2024)", None),
            ("81.73 billion kr (2021)", Some(EUR)),
        ] {
            let reason = ambiguous(text, listing);
            assert!(reason.contains("ambiguous"), "{reason}");
        }
        assert_eq!(
            ambiguous("¥ 1.74 trillion (2022)", Some(GBP)),
            "currency symbol ¥ is ambiguous (JPY or CNY) and the listing currency (GBP) does not settle it"
        );
        assert!(ambiguous("40.911 billion kr (2021)", None).contains("SEK, NOK, DKK or ISK"));
    }

    #[test]
    fn other_ambiguous_cells() {
        use Currency::*;
        let cases = [
            ("2.414 trillion (2023)", Some(JPY), "no currency"),
            ("1.419 yen", Some(JPY), "dot"),
            ("1.5 yen", Some(JPY), "minor units"),
            ("US$ 0.000000001 million", None, "minor units"),
            ("1441,1 billion yen (FY 2017)", Some(JPY), "decimal comma"),
            ("918,3 Mio.€ (December 2017)", None, "decimal comma"),
            ("US$ 0 700 Mln (2018)", Some(USD), "in threes"),
            (">€6 billion (2022)", Some(EUR), "bound"),
            ("> US$ 513.2 million (January 1, 2025", Some(USD), "bound"),
            ("$1 billion+ USD (reference: 2018 10K)", Some(USD), "bound"),
            ("~US$ 3 billion", None, "bound"),
            ("SEK 5 billion EUR", None, "contradict"),
            ("US$ 5 million billion", None, "second scale"),
            ("1.000.000 EUR", None, "in threes"),
            ("n/a", None, "no amount"),
            ("Konami 5 billion", None, "not a currency"),
            ("XAU 5", None, "no minor unit"),
        ];
        for (text, listing, needle) in cases {
            let reason = ambiguous(text, listing);
            assert!(reason.contains(needle), "{text:?}: {reason}");
        }
    }

    #[test]
    fn overflow_is_ambiguous() {
        let reason = ambiguous("US$ 79,228,162,514,264,337,593,543 billion", None);
        assert!(reason.contains("too large"), "{reason}");
        let reason = ambiguous("€ 123456789012345678901234567890", None);
        assert!(reason.contains("too many digits"), "{reason}");
        let reason = ambiguous("¥ 79228162514264337593.5433 trillion", Some(Currency::JPY));
        assert!(reason.contains("too large"), "{reason}");
    }

    #[test]
    fn empty_revenue() {
        assert_eq!(parse_revenue("", None), RevenueText::Empty);
        assert_eq!(
            parse_revenue("  \t", Some(Currency::USD)),
            RevenueText::Empty
        );
    }

    #[test]
    fn employees() {
        let cases = [
            ("94,000 (2024)", 94_000),
            ("1,359 (Bank only)", 1_359),
            ("~14,500 (As of Jan. 2, 2022)", 14_500),
            ("c. 34,000 (2024)", 34_000),
            ("~95,000 : 5 (2025)", 95_000),
            ("4,000 (end 2024)", 4_000),
            ("23000", 23_000),
            ("360,000+ (2025)", 360_000),
            ("More than 23,800 (2024)", 23_800),
            (
                "Over 1 million (est.) (Including subsidiaries and franchises)",
                1_000_000,
            ),
            ("1.5 million", 1_500_000),
            ("14.046 (December 2022)", 14_046),
            ("9 000 (2024)", 9_000),
            (
                "Konami (total) 9,268 (09/2025) Konami Sports 4,668 (09/2025)",
                9_268,
            ),
            ("8,056 (44,495 consolidated)", 8_056),
            ("2,100,000 (2025)", 2_100_000),
        ];
        for (text, count) in cases {
            assert_eq!(parse_employees(text), Ok(Some(count)), "{text}");
        }
        assert_eq!(parse_employees(""), Ok(None));
        assert_eq!(parse_employees("   "), Ok(None));
        for text in [
            "unknown",
            "(2024)",
            "6,000 - 8,000 (2022)",
            "2.5",
            "1441,1",
            "99999999999999999999 trillion",
        ] {
            let reason = parse_employees(text).expect_err(text);
            assert!(!reason.is_empty());
        }
    }

    #[test]
    fn companies_csv() {
        let path = std::env::var("COMPANIES_CSV").unwrap_or_else(|_| {
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/data/companies.csv"
            )
            .into()
        });
        let mut reader = csv::Reader::from_path(&path).expect("companies.csv is readable");
        let headers = reader.headers().unwrap().clone();
        let column = |name: &str| headers.iter().position(|h| h == name).expect(name);
        let (revenue, currency, employees) = (
            column("Annual Revenue"),
            column("Currency"),
            column("Number of Employees"),
        );
        let (mut exact, mut ambiguous, mut empty) = (0, 0, 0);
        let (mut counted, mut failed, mut no_count) = (0, 0, 0);
        for record in reader.records() {
            let record = record.unwrap();
            let listing = Currency::from_code(record[currency].trim());
            match parse_revenue(&record[revenue], listing) {
                RevenueText::Empty => empty += 1,
                RevenueText::Exact { .. } => exact += 1,
                RevenueText::Ambiguous { reason } => {
                    assert!(!reason.trim().is_empty(), "{:?}", &record[revenue]);
                    println!(
                        "ambiguous: {:?} [{}]: {reason}",
                        &record[revenue], &record[currency]
                    );
                    ambiguous += 1;
                }
            }
            match parse_employees(&record[employees]) {
                Ok(Some(_)) => counted += 1,
                Ok(None) => no_count += 1,
                Err(reason) => {
                    assert!(!reason.is_empty());
                    println!("employees: {reason}");
                    failed += 1;
                }
            }
        }
        println!("revenue: {exact} exact, {ambiguous} ambiguous, {empty} empty");
        println!("employees: {counted} parsed, {failed} failed, {no_count} empty");
        assert_eq!(exact + ambiguous + empty, 1250);
        assert!(
            exact * 100 >= (exact + ambiguous) * 95,
            "too few exact revenues"
        );
        assert!(
            counted * 100 >= (counted + failed) * 99,
            "too few employee counts"
        );
    }
}
