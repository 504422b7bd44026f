//! Rules that mark a submission as suspicious, each with a reason code the
//! owner sees (docs/CONTRACT.md 3.9). They are few and explainable on
//! purpose: each names a pattern that a contact form's spam has and a
//! person's lead has not, so a held post can be judged at a glance and a
//! legitimate one (a name in any script, one link in a message, a website
//! in its own field) passes.
//!
//! The rules read a validated [`Lead`], every value it carries: what is
//! not in the lead never reaches Keap, and a field added to the lead later
//! is read too. They never panic, whatever the text (property-tested).

use serde::{Deserialize, Serialize};

use crate::form::lead::Lead;

/// More links than this in a message is suspicious.
pub const MAX_LINKS_IN_MESSAGE: usize = 3;

/// Why a post looks like spam: the rule that matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// `http://`, `https://` or `www.` in the first or last name.
    LinkInName,
    /// The message is nothing but a link.
    MessageOnlyLink,
    /// The message holds more than [`MAX_LINKS_IN_MESSAGE`] links.
    TooManyLinks,
    /// BBCode `[url` or an HTML `<a ` tag in any value.
    MarkupLink,
}

impl Reason {
    /// The stable code (the contract's, `/admin/held`'s `reason`).
    pub fn code(self) -> &'static str {
        match self {
            Reason::LinkInName => "link_in_name",
            Reason::MessageOnlyLink => "message_only_link",
            Reason::TooManyLinks => "too_many_links",
            Reason::MarkupLink => "markup_link",
        }
    }

    /// What it means, for the owner.
    pub fn explain(self) -> &'static str {
        match self {
            Reason::LinkInName => "a link in a name field",
            Reason::MessageOnlyLink => "the message is only a link",
            Reason::TooManyLinks => "more than 3 links in the message",
            Reason::MarkupLink => "a BBCode or HTML link",
        }
    }
}

/// What a form does with a suspicious post (its `spam` setting).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpamMode {
    /// Kept sealed for the owner to review (the default).
    #[default]
    Hold,
    /// Dropped, with the same success answer.
    Drop,
    /// No rules: every valid post is delivered.
    Off,
}

/// Where a link starts in `text`: `http://`, `https://` or `www.`, any
/// case. A `www.` right after `://` belongs to the link before it.
fn link_starts(text: &str) -> usize {
    let lower = text.to_lowercase();
    let schemes = lower.matches("http://").count() + lower.matches("https://").count();
    let www_alone = lower
        .match_indices("www.")
        .filter(|(at, _)| {
            !lower
                .get(..*at)
                .is_some_and(|before| before.ends_with("://"))
        })
        .count();
    schemes + www_alone
}

fn has_link(text: &str) -> bool {
    link_starts(text) > 0
}

/// True when the whole of `message` is one link: one word, starting like
/// one.
fn only_a_link(message: &str) -> bool {
    let mut words = message.split_whitespace();
    match (words.next(), words.next()) {
        (Some(word), None) => {
            let w = word.to_lowercase();
            w.starts_with("http://") || w.starts_with("https://") || w.starts_with("www.")
        }
        _ => false,
    }
}

/// BBCode `[url` or an HTML anchor `<a` followed by a space, any case.
fn has_markup_link(text: &str) -> bool {
    let lower = text.to_lowercase();
    if lower.contains("[url") {
        return true;
    }
    lower.match_indices("<a").any(|(at, _)| {
        lower
            .get(at + 2..)
            .and_then(|rest| rest.chars().next())
            .is_some_and(char::is_whitespace)
    })
}

/// The first rule `lead` matches, or `None` for a post that looks like a
/// person's.
pub fn check(lead: &Lead) -> Option<Reason> {
    let names = [&lead.first_name, &lead.last_name];
    if names.into_iter().flatten().any(|n| has_link(n)) {
        return Some(Reason::LinkInName);
    }
    let message = lead.note.as_ref().and_then(|n| n.message.as_deref());
    if let Some(message) = message {
        if only_a_link(message) {
            return Some(Reason::MessageOnlyLink);
        }
        if link_starts(message) > MAX_LINKS_IN_MESSAGE {
            return Some(Reason::TooManyLinks);
        }
    }
    if lead.personal_values().into_iter().any(has_markup_link) {
        return Some(Reason::MarkupLink);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::form::body::Fields;
    use crate::form::forms::Form;
    use crate::form::lead;
    use proptest::prelude::*;

    fn form() -> Form {
        crate::form::forms::Forms::from_json(Some(&serde_json::json!({"contact": {}})))
            .unwrap()
            .get("contact")
            .unwrap()
            .clone()
    }

    fn lead_of(pairs: &[(&str, &str)]) -> Lead {
        let mut fields = Fields::new();
        fields.push("email", "someone@example.com");
        for (k, v) in pairs {
            fields.push(*k, *v);
        }
        lead::validate(&form(), &fields, None, 0).expect("a valid lead")
    }

    fn reason(pairs: &[(&str, &str)]) -> Option<&'static str> {
        check(&lead_of(pairs)).map(Reason::code)
    }

    #[test]
    fn spam_examples_are_caught_with_their_reason() {
        assert_eq!(
            reason(&[("first_name", "Earn $5000 a day http://x.example")]),
            Some("link_in_name")
        );
        assert_eq!(
            reason(&[("last_name", "WWW.casino.example")]),
            Some("link_in_name")
        );
        assert_eq!(
            reason(&[("message", "  https://casino.example/win?x=1  ")]),
            Some("message_only_link")
        );
        assert_eq!(
            reason(&[(
                "message",
                "SEO: http://a.example http://b.example https://c.example www.d.example"
            )]),
            Some("too_many_links")
        );
        assert_eq!(
            reason(&[("message", "Great site [URL=http://x.example]cheap[/url]")]),
            Some("markup_link")
        );
        assert_eq!(
            reason(&[("message", "see <A\thref=\"http://x.example\">here</a>")]),
            Some("markup_link")
        );
        assert_eq!(
            reason(&[("job_title", "<a href=x>boss</a>")]),
            Some("markup_link"),
            "anywhere means any field"
        );
    }

    #[test]
    fn legitimate_leads_pass() {
        for (first, last) in [("José", "Ñúñez"), ("李", "雷"), ("Zoë", "O'Brien")] {
            assert_eq!(
                reason(&[("first_name", first), ("last_name", last)]),
                None,
                "{first} {last}"
            );
        }
        assert_eq!(
            reason(&[(
                "message",
                "Hello, my current site is https://old.example, can you help?"
            )]),
            None
        );
        assert_eq!(
            reason(&[(
                "message",
                "Compare http://a.example, https://b.example and www.c.example"
            )]),
            None,
            "three links are fine"
        );
        assert_eq!(reason(&[("website", "https://www.mysite.example")]), None);
        assert_eq!(
            reason(&[("message", "I <abbr>love</abbr> it, a <b>lot</b>")]),
            None
        );
        assert_eq!(reason(&[("message", "Price < a dollar, 2<3")]), None);
    }

    #[test]
    fn a_www_after_a_scheme_is_one_link() {
        assert_eq!(link_starts("https://www.a.example"), 1);
        assert_eq!(link_starts("www.a.example and WWW.b.example"), 2);
        assert_eq!(link_starts("no links"), 0);
    }

    #[test]
    fn modes_and_codes_are_spelt_as_in_the_contract() {
        let m: SpamMode = serde_json::from_str("\"drop\"").unwrap();
        assert_eq!(m, SpamMode::Drop);
        assert_eq!(
            serde_json::to_string(&Reason::TooManyLinks).unwrap(),
            "\"too_many_links\""
        );
        for r in [
            Reason::LinkInName,
            Reason::MessageOnlyLink,
            Reason::TooManyLinks,
            Reason::MarkupLink,
        ] {
            assert_eq!(
                serde_json::to_string(&r).unwrap(),
                format!("\"{}\"", r.code())
            );
        }
    }

    proptest! {
        /// Any text in any field: the rules answer, never panic.
        #[test]
        fn never_panics(a in any::<String>(), b in any::<String>(), m in any::<String>()) {
            let mut l = lead_of(&[]);
            l.first_name = Some(a.clone());
            l.last_name = Some(b);
            l.job_title = Some(a);
            l.note = crate::form::note::Note::for_submission(
                crate::form::note::NoteWhen::Message,
                Some(m),
                Default::default(),
                None,
            );
            let _ = check(&l);
        }

        /// Around any text, a markup link is still found.
        #[test]
        fn finds_markup_anywhere(pre in any::<String>(), post in any::<String>()) {
            let mut l = lead_of(&[]);
            l.job_title = Some(format!("{pre}[url={post}"));
            prop_assert!(check(&l).is_some());
        }
    }
}
