//! Discord's angle-bracket markup in message content: mentions, custom emoji and timestamps.
//! Everything else is text (shown verbatim, escaped).

/// A piece of message content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Token<'a> {
    /// Plain text.
    Text(&'a str),
    /// `<@id>` or `<@!id>`.
    User(u64),
    /// `<@&id>`.
    Role(u64),
    /// `<#id>`.
    Channel(u64),
    /// `<:name:id>` or `<a:name:id>`.
    Emoji(&'a str),
    /// `<t:unix>` or `<t:unix:style>`.
    Time(i64),
}

/// The tokens of `content`, in order.
pub(crate) fn tokens(content: &str) -> Tokens<'_> {
    Tokens { rest: content }
}

/// Iterator of [`tokens`].
pub(crate) struct Tokens<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        if let Some((token, len)) = tag(self.rest) {
            self.rest = &self.rest[len..];
            return Some(token);
        }
        // Text up to the next `<` (a `<` that starts no tag is text too).
        let skip = usize::from(self.rest.starts_with('<'));
        let end = self.rest[skip..]
            .find('<')
            .map_or(self.rest.len(), |i| i + skip);
        let (text, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(Token::Text(text))
    }
}

/// The tag at the start of `s` and its length.
fn tag(s: &str) -> Option<(Token<'_>, usize)> {
    let inner = s.strip_prefix('<')?;
    let close = inner.find('>')?;
    let inner = &inner[..close];
    let token = if let Some(id) = inner.strip_prefix("@&") {
        Token::Role(snowflake(id)?)
    } else if let Some(id) = inner.strip_prefix("@!") {
        Token::User(snowflake(id)?)
    } else if let Some(id) = inner.strip_prefix('@') {
        Token::User(snowflake(id)?)
    } else if let Some(id) = inner.strip_prefix('#') {
        Token::Channel(snowflake(id)?)
    } else if let Some(rest) = inner.strip_prefix("a:").or_else(|| inner.strip_prefix(':')) {
        let (name, id) = rest.split_once(':')?;
        snowflake(id)?;
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return None;
        }
        Token::Emoji(name)
    } else if let Some(rest) = inner.strip_prefix("t:") {
        let (secs, style) = rest.split_once(':').unwrap_or((rest, "f"));
        if style.len() != 1 || !secs.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
            return None;
        }
        Token::Time(secs.parse().ok()?)
    } else {
        return None;
    };
    Some((token, close + 2))
}

/// A snowflake: 1 to 20 digits, not zero.
fn snowflake(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|id| *id != 0)
}

#[cfg(test)]
mod tests {
    use super::{Token, tokens};

    #[test]
    fn mentions_emoji_and_times_are_tags_the_rest_is_text() {
        let got: Vec<Token<'_>> =
            tokens("hi <@12> and <@!13>, <@&14> in <#15> <:wave:16> <t:1700000000:R> <b> <@x> <")
                .collect();
        assert_eq!(
            got,
            vec![
                Token::Text("hi "),
                Token::User(12),
                Token::Text(" and "),
                Token::User(13),
                Token::Text(", "),
                Token::Role(14),
                Token::Text(" in "),
                Token::Channel(15),
                Token::Text(" "),
                Token::Emoji("wave"),
                Token::Text(" "),
                Token::Time(1_700_000_000),
                Token::Text(" "),
                Token::Text("<b> "),
                Token::Text("<@x> "),
                Token::Text("<"),
            ]
        );
        assert_eq!(
            tokens("<script>alert(1)</script>").collect::<Vec<_>>(),
            vec![Token::Text("<script>alert(1)"), Token::Text("</script>")]
        );
        assert_eq!(tokens("").count(), 0);
    }
}
