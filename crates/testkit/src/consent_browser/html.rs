//! A small, tolerant HTML tokenizer: enough to find forms, inputs and buttons in the pages that
//! Trove renders, without a full HTML5 parser.
//!
//! It handles quoted, unquoted and valueless attributes, comments, raw-text elements (`script`,
//! `style`, `textarea`, `title`) and character references. It builds no tree and does not
//! repair misnested markup.

/// A start tag with lowercase name and attribute names, and decoded attribute values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartTag {
    /// Element name, lowercase.
    pub name: String,
    /// Attributes in source order. A valueless attribute has an empty value.
    pub attributes: Vec<(String, String)>,
}

impl StartTag {
    /// Returns the value of the first attribute called `name`.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    /// Checks whether the attribute `name` is present, with or without a value.
    pub fn has_attribute(&self, name: &str) -> bool {
        self.attributes.iter().any(|(key, _)| key == name)
    }
}

/// A piece of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// `<name ...>`.
    Start(StartTag),
    /// `</name>`, with the name lowercase.
    End(String),
    /// Text between tags, with character references decoded.
    Text(String),
}

/// Elements whose content is text up to their end tag, never markup.
const RAW_TEXT: &[&str] = &["script", "style", "textarea", "title"];

/// Splits `html` into tokens.
pub fn tokenize(html: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut rest = html;
    while !rest.is_empty() {
        let Some(open) = rest.find('<') else {
            push_text(&mut tokens, rest);
            break;
        };
        push_text(&mut tokens, &rest[..open]);
        rest = &rest[open..];

        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |end| &after[end + 3..]);
        } else if rest.starts_with("<!") || rest.starts_with("<?") {
            rest = rest.find('>').map_or("", |end| &rest[end + 1..]);
        } else if let Some(after) = rest.strip_prefix("</") {
            let name_len = after.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(after.len());
            if name_len == 0 {
                push_text(&mut tokens, "</");
                rest = after;
                continue;
            }
            tokens.push(Token::End(after[..name_len].to_ascii_lowercase()));
            rest = after.find('>').map_or("", |end| &after[end + 1..]);
        } else if rest[1..].starts_with(|c: char| c.is_ascii_alphabetic()) {
            let (tag, after) = parse_start_tag(&rest[1..]);
            rest = after;
            if RAW_TEXT.contains(&tag.name.as_str()) {
                let end = find_end_tag(rest, &tag.name);
                let text = &rest[..end];
                let name = tag.name.clone();
                tokens.push(Token::Start(tag));
                push_text(&mut tokens, text);
                tokens.push(Token::End(name));
                let after_text = &rest[end..];
                rest = after_text.find('>').map_or("", |close| &after_text[close + 1..]);
            } else {
                tokens.push(Token::Start(tag));
            }
        } else {
            push_text(&mut tokens, "<");
            rest = &rest[1..];
        }
    }
    tokens
}

fn push_text(tokens: &mut Vec<Token>, text: &str) {
    if !text.is_empty() {
        tokens.push(Token::Text(decode_entities(text)));
    }
}

/// Returns the byte offset of `</name` (any case) in `text`, or its length.
fn find_end_tag(text: &str, name: &str) -> usize {
    let lower = text.to_ascii_lowercase();
    lower.find(&format!("</{name}")).unwrap_or(text.len())
}

/// Parses a start tag after its `<`, returning the tag and the text after its `>`.
fn parse_start_tag(input: &str) -> (StartTag, &str) {
    let name_len = input.find(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/').unwrap_or(input.len());
    let name = input[..name_len].to_ascii_lowercase();
    let mut rest = &input[name_len..];
    let mut attributes = Vec::new();
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '/');
        if rest.is_empty() {
            break;
        }
        if let Some(after) = rest.strip_prefix('>') {
            rest = after;
            break;
        }
        let key_len = rest
            .find(|c: char| c.is_ascii_whitespace() || c == '=' || c == '>' || c == '/')
            .unwrap_or(rest.len())
            .max(1);
        let key = rest[..key_len].to_ascii_lowercase();
        rest = rest[key_len..].trim_start_matches(|c: char| c.is_ascii_whitespace());
        let mut value = String::new();
        if let Some(after) = rest.strip_prefix('=') {
            let after = after.trim_start_matches(|c: char| c.is_ascii_whitespace());
            if let Some(quote) = after.chars().next().filter(|c| *c == '"' || *c == '\'') {
                let body = &after[1..];
                let end = body.find(quote).unwrap_or(body.len());
                value = decode_entities(&body[..end]);
                rest = body.get(end + 1..).unwrap_or("");
            } else {
                let end = after.find(|c: char| c.is_ascii_whitespace() || c == '>').unwrap_or(after.len());
                value = decode_entities(&after[..end]);
                rest = &after[end..];
            }
        }
        attributes.push((key, value));
    }
    (StartTag { name, attributes }, rest)
}

/// Decodes character references: the named ones HTML escapers emit (`&amp;` `&lt;` `&gt;`
/// `&quot;` `&apos;` `&nbsp;`) and numeric ones. Anything else is kept as written.
pub fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semicolon) = rest[1..].find(';').map(|index| index + 1).filter(|index| *index <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let reference = &rest[1..semicolon];
        let decoded = match reference {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some('\u{a0}'),
            _ => reference.strip_prefix('#').and_then(|number| {
                let code = match number.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => number.parse::<u32>().ok(),
                };
                code.and_then(char::from_u32)
            }),
        };
        match decoded {
            Some(character) => {
                out.push(character);
                rest = &rest[semicolon + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(name: &str, attributes: &[(&str, &str)]) -> Token {
        Token::Start(StartTag {
            name: name.into(),
            attributes: attributes.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect(),
        })
    }

    #[test]
    fn attribute_quoting_styles() {
        let tokens = tokenize(r#"<INPUT Type=hidden name='a "b"' value="x&amp;y&#39;z" required/>"#);
        assert_eq!(
            tokens,
            vec![start("input", &[("type", "hidden"), ("name", "a \"b\""), ("value", "x&y'z"), ("required", "")])]
        );
    }

    #[test]
    fn comments_and_raw_text_hide_markup() {
        let tokens = tokenize("<!-- <form> --><style>a<b{}</style><p>1 &lt; 2</p>");
        assert_eq!(
            tokens,
            vec![
                start("style", &[]),
                Token::Text("a<b{}".into()),
                Token::End("style".into()),
                start("p", &[]),
                Token::Text("1 < 2".into()),
                Token::End("p".into()),
            ]
        );
    }

    #[test]
    fn entity_decoding() {
        assert_eq!(decode_entities("a&amp;b &#x41;&#66; &unknown; & &nbsp;"), "a&b AB &unknown; & \u{a0}");
    }

    #[test]
    fn stray_angle_bracket_is_text() {
        assert_eq!(
            tokenize("1 < 2"),
            vec![Token::Text("1 ".into()), Token::Text("<".into()), Token::Text(" 2".into())]
        );
    }
}
