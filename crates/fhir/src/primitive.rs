//! Checks of primitive values: the JSON type, the STU3 regex, and the rules a regex cannot state.

use serde_json::Value;

use crate::spec::{JsonType, Primitive, PrimitiveKind};

/// Maximum length of a value quoted in a message, in characters.
const QUOTE_LIMIT: usize = 60;

/// Checks one primitive value, returning the problem as a message.
pub(crate) fn check_primitive(primitive: &Primitive, value: &Value) -> Result<(), String> {
    match primitive.json {
        JsonType::Boolean => match value {
            Value::Bool(_) => Ok(()),
            other => Err(format!(
                "expected a JSON boolean for a boolean value, found {}",
                describe(other)
            )),
        },
        JsonType::Number => match value {
            Value::Number(number) => check_number(primitive, number),
            other => Err(format!(
                "expected a JSON number for a {} value, found {}",
                primitive.name,
                describe(other)
            )),
        },
        JsonType::String => match value {
            Value::String(text) => check_string(primitive, text),
            other => Err(format!(
                "expected a JSON string for a {} value, found {}",
                primitive.name,
                describe(other)
            )),
        },
    }
}

/// Names a JSON value's type for messages.
pub(crate) fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Quotes a value for a message, shortening long ones such as base64 data.
pub(crate) fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTE_LIMIT) {
        Some((end, _)) => format!("\"{}…\"", &text[..end]),
        None => format!("\"{text}\""),
    }
}

fn check_number(primitive: &Primitive, number: &serde_json::Number) -> Result<(), String> {
    // NOTE: serde_json has already parsed the number into an i64, u64 or f64, so the decimal
    // regex cannot be applied to the original text. Exponent notation such as `1e3` therefore
    // passes as a decimal, and a decimal's precision is lost.
    let minimum = match primitive.kind {
        PrimitiveKind::Decimal => return Ok(()),
        PrimitiveKind::Integer => i64::from(i32::MIN),
        PrimitiveKind::UnsignedInt => 0,
        PrimitiveKind::PositiveInt => 1,
        other => unreachable!("{other:?} is not a JSON number type"),
    };
    // STU3 integers are 32-bit signed, and positiveInt and unsignedInt share that maximum.
    match number.as_i64() {
        Some(whole) if (minimum..=i64::from(i32::MAX)).contains(&whole) => Ok(()),
        Some(whole) => Err(format!(
            "{} value {whole} is out of range ({minimum} to {})",
            primitive.name,
            i32::MAX
        )),
        None => Err(format!(
            "{} value {number} is not a whole number",
            primitive.name
        )),
    }
}

fn check_string(primitive: &Primitive, text: &str) -> Result<(), String> {
    // STU3 JSON has no empty strings, because an element without a value is left out.
    if text.is_empty() {
        return Err(format!(
            "{} value is an empty string; omit the element instead",
            primitive.name
        ));
    }
    if let Some(max_length) = primitive.max_length {
        if text.len() > max_length {
            return Err(format!(
                "{} value is {} bytes long, more than the maximum of {max_length}",
                primitive.name,
                text.len()
            ));
        }
    }
    if let Some(regex) = &primitive.regex {
        if !regex.is_match(text) {
            return Err(format!(
                "invalid {} value {}: {}",
                primitive.name,
                quote(text),
                format_hint(primitive)
            ));
        }
    }
    match primitive.kind {
        PrimitiveKind::Date | PrimitiveKind::DateTime => check_calendar_date(primitive, text),
        PrimitiveKind::Instant => check_instant(primitive, text),
        PrimitiveKind::Base64Binary => check_base64(text),
        PrimitiveKind::Uri => check_uri(text),
        PrimitiveKind::Xhtml => check_xhtml(text),
        _ => Ok(()),
    }
}

fn format_hint(primitive: &Primitive) -> String {
    let hint = match primitive.kind {
        PrimitiveKind::Date => "expected YYYY, YYYY-MM or YYYY-MM-DD",
        PrimitiveKind::DateTime => {
            "expected YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[.fff] with a time zone (Z or +hh:mm)"
        }
        PrimitiveKind::Time => "expected hh:mm:ss[.fff]",
        PrimitiveKind::Code => "expected text without leading, trailing or repeated whitespace",
        PrimitiveKind::Id => "expected 1 to 64 characters from A-Z, a-z, 0-9, '-' and '.'",
        PrimitiveKind::Oid => "expected urn:oid: followed by dot-separated numbers",
        PrimitiveKind::Uuid => "expected urn:uuid: followed by a lowercase UUID",
        _ => return format!("does not match the STU3 pattern {}", primitive.regex.as_ref().map_or("", |r| r.as_str())),
    };
    hint.to_owned()
}

/// Rejects dates the STU3 regex lets through but the calendar does not have, such as
/// `2017-02-30` or day `00`, because the dateTime definition says "Dates SHALL be valid dates".
/// The caller has already checked the layout with the regex or, for instants, by hand.
fn check_calendar_date(primitive: &Primitive, text: &str) -> Result<(), String> {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    // The layout is checked, so the first 10 bytes (at most) are ASCII digits and dashes.
    let mut parts = unsigned[..unsigned.len().min(10)].split('-');
    let year: i64 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let (Some(month), Some(day)) = (parts.next(), parts.next()) else {
        return Ok(());
    };
    let month: u32 = month.parse().unwrap_or(0);
    let day: u32 = day.parse().unwrap_or(0);
    let signed_year = if unsigned.len() == text.len() {
        year
    } else {
        -year
    };
    if day == 0 || day > days_in_month(signed_year, month) {
        return Err(format!(
            "invalid {} value {}: {year:04}-{month:02} has no day {day:02}",
            primitive.name,
            quote(text)
        ));
    }
    Ok(())
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year.rem_euclid(4) == 0
            && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0) =>
        {
            29
        }
        2 => 28,
        _ => 0,
    }
}

/// Checks an instant: `YYYY-MM-DDThh:mm:ss[.fff]` followed by `Z` or `+hh:mm`/`-hh:mm`.
///
/// The STU3 definition gives no regex for `instant`. Its text says "known at least to the
/// second" and "Time zone is always required", and its XML type is xsd:dateTime.
fn check_instant(primitive: &Primitive, text: &str) -> Result<(), String> {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .is_some_and(|b| b.iter().all(u8::is_ascii_digit))
    };
    let layout_ok = bytes.len() >= 20
        && digits(0..4)
        && bytes[4] == b'-'
        && digits(5..7)
        && bytes[7] == b'-'
        && digits(8..10)
        && bytes[10] == b'T'
        && digits(11..13)
        && bytes[13] == b':'
        && digits(14..16)
        && bytes[16] == b':'
        && digits(17..19)
        && instant_tail_ok(&text[19..]);
    let fields_ok = layout_ok && {
        let number = |range: std::ops::Range<usize>| text[range].parse::<u32>().unwrap_or(u32::MAX);
        (1..=12).contains(&number(5..7))
            && number(11..13) <= 23
            && number(14..16) <= 59
            && number(17..19) <= 59
    };
    if !fields_ok {
        return Err(format!(
            "invalid instant value {}: expected YYYY-MM-DDThh:mm:ss[.fff] with a time zone (Z or +hh:mm)",
            quote(text)
        ));
    }
    check_calendar_date(primitive, text)
}

/// Checks the part of an instant after the seconds: an optional fraction, then the zone.
fn instant_tail_ok(tail: &str) -> bool {
    let zone = match tail.strip_prefix('.') {
        Some(fraction) => {
            let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return false;
            }
            &fraction[digits..]
        }
        None => tail,
    };
    if zone == "Z" {
        return true;
    }
    let bytes = zone.as_bytes();
    bytes.len() == 6
        && (bytes[0] == b'+' || bytes[0] == b'-')
        && bytes[1..3].iter().all(u8::is_ascii_digit)
        && bytes[3] == b':'
        && bytes[4..6].iter().all(u8::is_ascii_digit)
        && zone[1..3].parse::<u32>().is_ok_and(|hours| hours <= 14)
        && zone[4..6].parse::<u32>().is_ok_and(|minutes| minutes <= 59)
}

/// Checks base64 (RFC 4648, standard alphabet with padding). Whitespace is skipped, as XML
/// Schema's base64Binary, which STU3 names for this type, allows it.
fn check_base64(text: &str) -> Result<(), String> {
    let mut length = 0usize;
    let mut padding = 0usize;
    for byte in text.bytes().filter(|b| !b.is_ascii_whitespace()) {
        let valid = match byte {
            b'=' => {
                padding += 1;
                true
            }
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' => padding == 0,
            _ => false,
        };
        if !valid {
            return Err(format!(
                "invalid base64Binary value: unexpected character {:?}",
                char::from(byte)
            ));
        }
        length += 1;
    }
    if length % 4 != 0 || padding > 2 {
        return Err(format!(
            "invalid base64Binary value: {length} base64 characters with {padding} padding, expected a multiple of 4 with at most 2 '='"
        ));
    }
    Ok(())
}

/// Rejects whitespace and control characters, which RFC 3986 does not allow in a URI.
fn check_uri(text: &str) -> Result<(), String> {
    match text.chars().find(|c| c.is_whitespace() || c.is_control()) {
        Some(c) => Err(format!(
            "invalid uri value {}: contains {c:?}, which a URI cannot hold",
            quote(text)
        )),
        None => Ok(()),
    }
}

/// Checks that narrative XHTML is one `div` element.
///
/// NOTE: the content is not parsed, so malformed XHTML and elements outside the basic HTML
/// formatting set that invariant txt-1 allows (such as script) are not detected.
fn check_xhtml(text: &str) -> Result<(), String> {
    let trimmed = text.trim();
    let opens_div = trimmed
        .strip_prefix("<div")
        .and_then(|rest| rest.chars().next())
        .is_some_and(|c| c == '>' || c == '/' || c.is_whitespace());
    if opens_div && (trimmed.ends_with("</div>") || trimmed.ends_with("/>")) {
        Ok(())
    } else {
        Err(format!(
            "invalid xhtml value {}: narrative must be a single <div> element",
            quote(text)
        ))
    }
}
