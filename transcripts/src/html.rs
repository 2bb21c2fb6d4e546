//! The HTML rendering: one self-contained page (inline CSS, no script, a Content-Security-Policy
//! that forbids scripts and outside requests) that looks like the Discord conversation.
//! Everything from Discord is escaped; links to stored attachments are relative to the page's
//! own key, so the page works wherever the store serves its prefix.

use std::io::{self, Write};

use crate::format::{Attachment, Entities, Message, TranscriptMeta};
use crate::markup::{Token, tokens};

/// Discord's epoch, in Unix milliseconds.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// A message this close after the previous one by the same author joins its group (as Discord
/// shows them).
const GROUP_MS: u64 = 7 * 60 * 1000;

const STYLE: &str = "\
*{box-sizing:border-box}\
body{margin:0;background:#313338;color:#dbdee1;font:16px/1.375 \"gg sans\",\"Noto Sans\",\"Helvetica Neue\",Helvetica,Arial,sans-serif}\
header{padding:16px 24px;background:#2b2d31;border-bottom:1px solid #1f2023}\
h1{margin:0;font-size:20px;color:#f2f3f5}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:8px 0 0;font-size:14px}\
dt{color:#949ba4}dd{margin:0;color:#dbdee1}\
main{padding:8px 0 24px}\
.msg{display:flex;gap:16px;padding:2px 48px 2px 16px}\
.msg:hover{background:#2e3035}\
.first{margin-top:17px}\
.av{flex:0 0 40px;height:40px;border-radius:50%;display:flex;align-items:center;justify-content:center;font-weight:600;color:#fff;user-select:none}\
.gap{flex:0 0 40px;text-align:right;font-size:10px;color:transparent;padding-top:4px}\
.msg:hover .gap{color:#949ba4}\
.body{flex:1;min-width:0}\
.name{font-weight:500;color:#f2f3f5}\
.bot{background:#5865f2;color:#fff;font-size:10px;font-weight:600;padding:1px 4px;border-radius:3px;margin-left:4px;vertical-align:middle}\
.ts{color:#949ba4;font-size:12px;margin-left:8px}\
.content{white-space:pre-wrap;overflow-wrap:anywhere}\
.edited{color:#949ba4;font-size:10px;margin-left:4px}\
.mention{background:rgba(88,101,242,.3);color:#c9cdfb;border-radius:3px;padding:0 2px;font-weight:500}\
.reply{font-size:13px;color:#b5bac1}\
.att{margin-top:4px}\
.att img{max-width:400px;max-height:300px;border-radius:8px;display:block}\
.file{display:inline-block;background:#2b2d31;border:1px solid #1f2023;border-radius:8px;padding:8px 12px;font-size:14px}\
.skipped{color:#949ba4;font-size:12px;margin-left:6px}\
.embed{background:#2b2d31;border-left:4px solid #1e1f22;border-radius:4px;padding:8px 12px;margin-top:4px;max-width:520px;font-size:14px}\
.embed .t{font-weight:600;color:#f2f3f5}\
.embed .f{font-size:12px;color:#949ba4;margin-top:6px}\
a{color:#00a8fc;text-decoration:none}a:hover{text-decoration:underline}\
footer{padding:16px 24px;color:#949ba4;font-size:12px;border-top:1px solid #1f2023}";

/// Avatar colours, picked by user id.
const AVATAR_COLOURS: [&str; 8] = [
    "#5865f2", "#3ba55c", "#faa61a", "#ed4245", "#eb459e", "#747f8d", "#1abc9c", "#9b59b6",
];

/// Writes a transcript page: [`Renderer::start`], [`Renderer::message`] per message, then
/// [`Renderer::end`].
pub(crate) struct Renderer<'a> {
    meta: &'a TranscriptMeta,
    entities: &'a Entities,
    /// The key prefix of the page (`transcripts/{guild}/{ticket}/`), stripped from stored keys.
    prefix: String,
    /// Author and time of the previous message, for grouping.
    previous: Option<(String, u64)>,
}

impl<'a> Renderer<'a> {
    pub(crate) fn new(meta: &'a TranscriptMeta, entities: &'a Entities, prefix: &str) -> Self {
        Self {
            meta,
            entities,
            prefix: prefix.to_owned(),
            previous: None,
        }
    }

    /// The document head and the ticket header.
    pub(crate) fn start(&self, out: &mut impl Write, messages: u64) -> io::Result<()> {
        let m = self.meta;
        out.write_all(b"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")?;
        out.write_all(
            b"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
              style-src 'unsafe-inline'; img-src 'self' data:\">",
        )?;
        out.write_all(b"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">")?;
        write!(
            out,
            "<meta name=\"referrer\" content=\"no-referrer\"><title>Ticket #{} ",
            m.ticket_number
        )?;
        write!(
            out,
            "&ndash; {}</title><style>{STYLE}</style></head><body>",
            Esc(&m.channel_name)
        )?;
        write!(
            out,
            "<header><h1>#{} <span class=\"ts\">ticket {} in {}</span></h1><dl>",
            Esc(&m.channel_name),
            m.ticket_number,
            Esc(&m.guild_name)
        )?;
        write!(
            out,
            "<dt>Opened by</dt><dd>{}</dd>",
            Esc(&self.user_name(&m.opener_id.to_string()))
        )?;
        write!(out, "<dt>Opened</dt><dd>{}</dd>", utc_ms(m.opened_at_ms))?;
        write!(
            out,
            "<dt>Closed by</dt><dd>{}</dd>",
            Esc(&self.user_name(&m.closed_by.to_string()))
        )?;
        write!(out, "<dt>Closed</dt><dd>{}</dd>", utc_ms(m.closed_at_ms))?;
        if let Some(reason) = &m.close_reason {
            write!(out, "<dt>Reason</dt><dd>{}</dd>", Esc(reason))?;
        }
        write!(
            out,
            "<dt>Messages</dt><dd>{messages}</dd></dl></header>\n<main>\n"
        )
    }

    /// One message.
    pub(crate) fn message(&mut self, out: &mut impl Write, msg: &Message) -> io::Result<()> {
        let at = msg
            .id
            .parse::<u64>()
            .map_or(0, |id| (id >> 22) + DISCORD_EPOCH_MS);
        let grouped = msg.reference.is_none()
            && self.previous.as_ref().is_some_and(|(author, when)| {
                *author == msg.author && at.saturating_sub(*when) < GROUP_MS
            });
        self.previous = Some((msg.author.clone(), at));
        let time = discord_time(&msg.timestamp);
        if grouped {
            write!(
                out,
                "<div class=\"msg\" id=\"m{}\"><div class=\"gap\">{}</div><div class=\"body\">",
                Esc(&msg.id),
                Esc(time.get(11..).unwrap_or(""))
            )?;
        } else {
            let user = self.entities.users.get(&msg.author);
            let name = self.user_name(&msg.author);
            write!(
                out,
                "<div class=\"msg first\" id=\"m{}\"><div class=\"av\" style=\"background:{}\">{}</div><div class=\"body\">",
                Esc(&msg.id),
                avatar_colour(&msg.author),
                Esc(&initials(&name))
            )?;
            if let Some(reference) = &msg.reference
                && let Some(target) = &reference.message_id
            {
                write!(
                    out,
                    "<div class=\"reply\">&#8618; replying to <a href=\"#m{}\">a message</a></div>",
                    Esc(target)
                )?;
            }
            write!(out, "<span class=\"name\">{}</span>", Esc(&name))?;
            if user.is_some_and(|u| u.bot) {
                out.write_all(b"<span class=\"bot\">BOT</span>")?;
            }
            write!(out, "<span class=\"ts\">{}</span>", Esc(&time))?;
        }
        if !msg.content.is_empty() {
            out.write_all(b"<div class=\"content\">")?;
            self.content(out, &msg.content)?;
            if msg.edited_timestamp.is_some() {
                out.write_all(b"<span class=\"edited\">(edited)</span>")?;
            }
            out.write_all(b"</div>")?;
        }
        for embed in &msg.embeds {
            self.embed(out, embed)?;
        }
        for attachment in &msg.attachments {
            self.attachment(out, attachment)?;
        }
        out.write_all(b"</div></div>\n")
    }

    /// The end of the page.
    pub(crate) fn end(&self, out: &mut impl Write) -> io::Result<()> {
        writeln!(
            out,
            "</main><footer>Transcript of ticket {} in {}, closed {}. Attachments link to their stored copies.</footer></body></html>",
            self.meta.ticket_number,
            Esc(&self.meta.guild_name),
            utc_ms(self.meta.closed_at_ms)
        )
    }

    /// Message text: escaped, mentions resolved from the entity map, everything else verbatim.
    fn content(&self, out: &mut impl Write, text: &str) -> io::Result<()> {
        for token in tokens(text) {
            match token {
                Token::Text(t) => write!(out, "{}", Esc(t))?,
                Token::User(id) => {
                    let name = self.entities.users.get(&id.to_string()).map_or_else(
                        || "unknown-user".to_owned(),
                        |u| u.display_name().to_owned(),
                    );
                    write!(out, "<span class=\"mention\">@{}</span>", Esc(&name))?;
                }
                Token::Role(id) => {
                    let role = self.entities.roles.get(&id.to_string());
                    let name = role.map_or("deleted-role", |r| r.name.as_str());
                    match role.map(|r| r.color).filter(|c| *c != 0) {
                        Some(colour) => write!(
                            out,
                            "<span class=\"mention\" style=\"color:#{colour:06x}\">@{}</span>",
                            Esc(name)
                        )?,
                        None => write!(out, "<span class=\"mention\">@{}</span>", Esc(name))?,
                    }
                }
                Token::Channel(id) => {
                    let name = self
                        .entities
                        .channels
                        .get(&id.to_string())
                        .map_or("unknown-channel", |c| c.name.as_str());
                    write!(out, "<span class=\"mention\">#{}</span>", Esc(name))?;
                }
                Token::Emoji(name) => write!(out, ":{}:", Esc(name))?,
                Token::Time(secs) => write!(
                    out,
                    "<span class=\"mention\">{}</span>",
                    utc_ms(secs.saturating_mul(1000))
                )?,
            }
        }
        Ok(())
    }

    fn embed(&self, out: &mut impl Write, embed: &serde_json::Value) -> io::Result<()> {
        let text = |pointer: &str| embed.pointer(pointer).and_then(serde_json::Value::as_str);
        match embed
            .get("color")
            .and_then(serde_json::Value::as_u64)
            .filter(|c| *c <= 0xff_ffff)
        {
            Some(c) => write!(
                out,
                "<div class=\"embed\" style=\"border-left-color:#{c:06x}\">"
            )?,
            None => out.write_all(b"<div class=\"embed\">")?,
        }
        if let Some(author) = text("/author/name") {
            write!(out, "<div class=\"f\">{}</div>", Esc(author))?;
        }
        if let Some(title) = text("/title") {
            match text("/url").filter(|u| is_web_url(u)) {
                Some(url) => write!(
                    out,
                    "<div class=\"t\"><a href=\"{}\" rel=\"noreferrer noopener\">{}</a></div>",
                    Esc(url),
                    Esc(title)
                )?,
                None => write!(out, "<div class=\"t\">{}</div>", Esc(title))?,
            }
        }
        if let Some(description) = text("/description") {
            out.write_all(b"<div class=\"content\">")?;
            self.content(out, description)?;
            out.write_all(b"</div>")?;
        }
        for field in embed
            .get("fields")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
        {
            let part = |k: &str| {
                field
                    .get(k)
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("")
            };
            write!(
                out,
                "<div class=\"t\">{}</div><div class=\"content\">",
                Esc(part("name"))
            )?;
            self.content(out, part("value"))?;
            out.write_all(b"</div>")?;
        }
        if let Some(footer) = text("/footer/text") {
            write!(out, "<div class=\"f\">{}</div>", Esc(footer))?;
        }
        out.write_all(b"</div>")
    }

    fn attachment(&self, out: &mut impl Write, a: &Attachment) -> io::Result<()> {
        out.write_all(b"<div class=\"att\">")?;
        let size = human_size(a.size);
        if let Some(key) = &a.stored_key {
            let href = relative_href(key, &self.prefix);
            let image = a
                .content_type
                .as_deref()
                .is_some_and(|t| t.starts_with("image/"));
            if image {
                write!(
                    out,
                    "<a href=\"{href}\"><img src=\"{href}\" alt=\"{}\" loading=\"lazy\"></a>",
                    Esc(&a.filename)
                )?;
            } else {
                write!(
                    out,
                    "<a class=\"file\" href=\"{href}\">{}</a> <span class=\"skipped\">{size}</span>",
                    Esc(&a.filename)
                )?;
            }
        } else {
            let why = match a.skipped {
                Some(crate::format::Skipped::TooLarge) => "too large to keep",
                _ => "not kept",
            };
            match a.url.as_deref().filter(|u| is_web_url(u)) {
                Some(url) => write!(
                    out,
                    "<a class=\"file\" href=\"{}\" rel=\"noreferrer noopener\">{}</a>",
                    Esc(url),
                    Esc(&a.filename)
                )?,
                None => write!(out, "<span class=\"file\">{}</span>", Esc(&a.filename))?,
            }
            write!(
                out,
                "<span class=\"skipped\">{size}, {why}: Discord's link expires</span>"
            )?;
        }
        out.write_all(b"</div>")
    }

    fn user_name(&self, id: &str) -> String {
        self.entities.users.get(id).map_or_else(
            || format!("unknown user {id}"),
            |u| u.display_name().to_owned(),
        )
    }
}

/// HTML-escapes its text (`& < > " '`), for element content and quoted attributes alike.
pub(crate) struct Esc<'a>(pub(crate) &'a str);

impl std::fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..i])?;
            f.write_str(match rest.as_bytes()[i] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)
    }
}

/// `http(s)://` only: no `javascript:` or `data:` links.
fn is_web_url(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

/// A stored key as a link relative to the page (`attachments/{id}/{name}`), percent-encoded.
fn relative_href(key: &str, prefix: &str) -> String {
    let relative = key.strip_prefix(prefix).unwrap_or(key);
    let mut out = String::with_capacity(relative.len());
    for b in relative.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Up to two initials of a name.
fn initials(name: &str) -> String {
    let mut words = name
        .split(|c: char| c.is_whitespace() || c == '_' || c == '.' || c == '-')
        .filter_map(|w| w.chars().next());
    let mut out: String = words.next().into_iter().chain(words.next()).collect();
    if out.is_empty() {
        out.push('?');
    }
    out.to_uppercase()
}

fn avatar_colour(id: &str) -> &'static str {
    let n = id.parse::<u64>().unwrap_or(0);
    AVATAR_COLOURS[usize::try_from((n >> 22) % 8).unwrap_or(0)]
}

fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / f64::from(1 << 20)),
        b if b >= 1 << 10 => format!("{:.1} KB", b as f64 / f64::from(1 << 10)),
        b => format!("{b} bytes"),
    }
}

/// Discord's `2024-01-02T03:04:05.678000+00:00` as `2024-01-02 03:04`.
fn discord_time(ts: &str) -> String {
    match (ts.get(..10), ts.get(11..16)) {
        (Some(date), Some(time)) => format!("{date} {time}"),
        _ => ts.to_owned(),
    }
}

/// Unix milliseconds as `2024-01-02 03:04 UTC`.
pub(crate) fn utc_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_text_and_attributes() {
        assert_eq!(
            Esc("<script>alert('x') & \"y\"</script>").to_string(),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
        assert_eq!(Esc("plain é").to_string(), "plain é");
    }

    #[test]
    fn dates_links_and_initials() {
        assert_eq!(utc_ms(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_ms(1_709_210_096_000), "2024-02-29 12:34 UTC");
        assert_eq!(
            discord_time("2024-01-02T03:04:05.678000+00:00"),
            "2024-01-02 03:04"
        );
        assert_eq!(
            relative_href("transcripts/1/2/attachments/3/a b.png", "transcripts/1/2/"),
            "attachments/3/a%20b.png"
        );
        assert!(!is_web_url("javascript:alert(1)"));
        assert!(is_web_url("HTTPS://cdn.discordapp.com/x"));
        assert_eq!(initials("ada lovelace"), "AL");
        assert_eq!(initials(""), "?");
    }
}
