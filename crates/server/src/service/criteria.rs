//! `scope.criteria` filtering of raw files: criteria combine with OR, the members of one
//! criterion with AND, and the values of one array member with OR. Filter keys are camelCase
//! while stored descriptor members are lower-case.

use serde_json::Value;
use trove_protocol::wire::Criterion;

/// Returns whether a file matches the criteria; no criteria match everything.
pub fn matches(criteria: Option<&[Criterion]>, metadata: &Value, created_ms: i64, now_ms: i64) -> bool {
    match criteria {
        None => true,
        Some([]) => true,
        Some(list) => list.iter().any(|criterion| matches_one(criterion, metadata, created_ms, now_ms)),
    }
}

fn matches_one(criterion: &Criterion, metadata: &Value, created_ms: i64, now_ms: i64) -> bool {
    if criterion.from.is_some_and(|from| created_ms < from) {
        return false;
    }
    if criterion.to.is_some_and(|to| created_ms > to) {
        return false;
    }
    if let Some(last) = &criterion.last {
        match parse_last(last) {
            Some(window_ms) if created_ms < now_ms - window_ms => return false,
            None => return false,
            _ => {}
        }
    }
    let Some(filter) = &criterion.metadata else { return true };
    let string_member = |member: &str| metadata.get(member).and_then(Value::as_str).map(str::to_string);
    let list_member = |member: &str| -> Vec<String> {
        metadata
            .get(member)
            .and_then(Value::as_array)
            .map(|items| items.iter().filter_map(|item| item.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    let any_equal = |wanted: &Option<Vec<String>>, actual: Option<String>| match wanted {
        None => true,
        Some(values) => actual.is_some_and(|actual| values.contains(&actual)),
    };
    let any_shared = |wanted: &Option<Vec<String>>, actual: Vec<String>| match wanted {
        None => true,
        Some(values) => values.iter().any(|value| actual.contains(value)),
    };
    let accounts: Vec<String> = metadata
        .get("accounts")
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(|item| item.get("accountid")?.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let wanted_accounts = filter.accounts.as_ref().map(|list| list.iter().map(|account| account.account_id.clone()).collect());

    any_equal(&filter.app_id, string_member("appid"))
        && any_equal(&filter.contract_id, string_member("contractid"))
        && any_equal(&filter.mime_type, string_member("mimetype"))
        && any_shared(&filter.reference, list_member("reference"))
        && any_shared(&filter.tags, list_member("tags"))
        && any_shared(&wanted_accounts, accounts)
}

/// Parses a trailing window such as `30m`, `12h`, `7d`, `2w`, `6M` (30-day months) or `1y`.
fn parse_last(text: &str) -> Option<i64> {
    let text = text.trim();
    let split = text.find(|character: char| !character.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().ok()?;
    let unit_ms: i64 = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        "M" => 30 * 86_400_000,
        "y" => 365 * 86_400_000,
        _ => return None,
    };
    number.checked_mul(unit_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use trove_protocol::wire::options::CriterionMetadata;

    fn stored() -> Value {
        json!({"mimetype": "application/pdf", "accounts": [{"accountid": "a1"}], "tags": ["x", "y"],
               "reference": ["r1"], "appid": "app", "contractid": "c1"})
    }

    fn with_metadata(metadata: CriterionMetadata) -> Criterion {
        Criterion { metadata: Some(metadata), ..Criterion::default() }
    }

    #[test]
    fn absent_criteria_match_all() {
        assert!(matches(None, &stored(), 0, 0));
    }

    #[test]
    fn members_combine_with_and() {
        let both = with_metadata(CriterionMetadata {
            mime_type: Some(vec!["application/pdf".into()]),
            tags: Some(vec!["z".into()]),
            ..Default::default()
        });
        assert!(!matches(Some(&[both]), &stored(), 0, 0));
    }

    #[test]
    fn arrays_and_criteria_combine_with_or() {
        let tags = with_metadata(CriterionMetadata { tags: Some(vec!["z".into(), "y".into()]), ..Default::default() });
        assert!(matches(Some(&[tags]), &stored(), 0, 0));
        let miss = with_metadata(CriterionMetadata { app_id: Some(vec!["other".into()]), ..Default::default() });
        let hit = with_metadata(CriterionMetadata {
            accounts: Some(vec![trove_protocol::wire::options::CriterionAccount { account_id: "a1".into(), username: None }]),
            ..Default::default()
        });
        assert!(!matches(Some(std::slice::from_ref(&miss)), &stored(), 0, 0));
        assert!(matches(Some(&[miss, hit]), &stored(), 0, 0));
    }

    #[test]
    fn time_window_applies_to_created() {
        let from = Criterion { from: Some(100), ..Criterion::default() };
        assert!(!matches(Some(std::slice::from_ref(&from)), &stored(), 99, 0));
        assert!(matches(Some(&[from]), &stored(), 100, 0));
        let last = Criterion { last: Some("1h".into()), ..Criterion::default() };
        assert!(matches(Some(std::slice::from_ref(&last)), &stored(), 10_000_000, 10_000_000 + 3_000_000));
        assert!(!matches(Some(&[last]), &stored(), 0, 10_000_000));
    }
}
