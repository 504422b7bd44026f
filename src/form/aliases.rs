//! The names forms already use for the standard fields (docs/CONTRACT.md 1,
//! "Form fields"): a form written for Formspree, Netlify Forms, Basin or
//! Contact Form 7 posts `_replyto`, `Name` or `your-message`, and works
//! by changing only its `action`.
//!
//! [`resolve`] turns the posted fields into the fields the worker reads
//! (`email`, `first_name`, `last_name`, `phone`, the message field and
//! [`SUBJECT_FIELD`]), remembering which posted name each came from so an
//! error names the field the visitor sees. Nothing is lost on the way:
//! a second name for a field that holds something else is handed on, to
//! become a line of the note.

use crate::form::body::Fields;
use crate::form::forms::{Form, DEFAULT_MESSAGE_FIELD};
use crate::form::name_split;

/// A standard field that forms spell in several ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standard {
    Email,
    /// A whole name, split into given and family name.
    FullName,
    FirstName,
    LastName,
    Phone,
    /// Only when the form keeps the default `message_field`.
    Message,
    /// The note's title.
    Subject,
}

/// Where the subject is read from after resolution (Formspree's name).
pub const SUBJECT_FIELD: &str = "_subject";

/// Every standard field's names, matched without regard to case. When a
/// post holds two names for one field, the one listed first here wins.
pub const ALIASES: [(Standard, &[&str]); 7] = [
    (
        Standard::Email,
        &["email", "e-mail", "email_address", "_replyto", "your-email"],
    ),
    (
        Standard::FirstName,
        &["first_name", "firstname", "first-name", "fname"],
    ),
    (
        Standard::LastName,
        &["last_name", "lastname", "last-name", "lname", "surname"],
    ),
    (
        Standard::FullName,
        &["name", "full_name", "fullname", "full-name", "your-name"],
    ),
    (
        Standard::Phone,
        &["phone", "tel", "telephone", "phone_number", "your-phone"],
    ),
    (
        Standard::Message,
        &[
            "message",
            "comments",
            "comment",
            "enquiry",
            "inquiry",
            "your-message",
        ],
    ),
    (Standard::Subject, &["_subject", "subject", "your-subject"]),
];

/// The standard field `name` stands for, and its rank among that field's
/// names (0 wins), whatever the form; `None` for any other name.
pub fn alias_of(name: &str) -> Option<(Standard, usize)> {
    ALIASES.iter().find_map(|(kind, names)| {
        names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))
            .map(|rank| (*kind, rank))
    })
}

/// A posted field the resolution did not take as a standard field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub name: String,
    pub value: String,
    /// A second name for a standard field, holding something other than
    /// the value taken: kept for the note, never read as the field.
    pub passed_over: bool,
}

/// The posted fields, read through the aliases.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    /// What the worker reads: each standard field's value under its own
    /// name, then every other posted field as posted.
    pub fields: Fields,
    /// The posted fields not taken as a standard field, in posted order.
    pub rest: Vec<Posted>,
    /// `(read as, posted as)` for each standard field taken.
    renamed: Vec<(String, String)>,
}

impl Resolved {
    /// The name the visitor's form used for the field read as `name`.
    pub fn posted_name<'a>(&'a self, name: &'a str) -> &'a str {
        self.renamed
            .iter()
            .find(|(read, _)| read == name)
            .map_or(name, |(_, posted)| posted.as_str())
    }
}

/// Reads `fields` through the aliases, for `form`. A name the form maps
/// itself (a custom field, the consent or honeypot field) keeps the
/// form's meaning; the message aliases apply only when the form keeps
/// the default `message_field`.
///
/// Linear in the number of fields: a 32 KiB body may hold thousands.
pub fn resolve(form: &Form, fields: &Fields) -> Resolved {
    let posted: Vec<(&str, &str)> = fields.iter().collect();
    // (A custom field may share the message field's name and take the
    // message too: that name stays the message's.)
    let claimed = |name: &str| {
        name != form.message_field
            && (form.custom_fields.contains_key(name)
                || form.consent_field.as_deref() == Some(name)
                || form.honeypot_field.as_deref() == Some(name))
    };
    // What each posted field is: a standard field's name (and its rank),
    // or not; `None` too for a blank alias, which counts as absent.
    let mut blank = vec![false; posted.len()];
    let standard: Vec<Option<(Standard, usize)>> = posted
        .iter()
        .enumerate()
        .map(|(index, (name, value))| {
            let (kind, rank) = alias_of(name).filter(|_| !claimed(name))?;
            if kind == Standard::Message && form.message_field != DEFAULT_MESSAGE_FIELD {
                return None;
            }
            if value.trim().is_empty() {
                blank[index] = true;
                return None;
            }
            Some((kind, rank))
        })
        .collect();
    // Each field's winner: the lowest rank, then the first posted.
    let mut winners: Vec<(Standard, usize, usize)> = Vec::new();
    for (index, entry) in standard.iter().enumerate() {
        let Some((kind, rank)) = *entry else { continue };
        match winners.iter_mut().find(|(k, _, _)| *k == kind) {
            Some(w) if rank < w.2 => *w = (kind, index, rank),
            Some(_) => {}
            None => winners.push((kind, index, rank)),
        }
    }
    let winner = |kind: Standard| {
        winners
            .iter()
            .find(|(k, _, _)| *k == kind)
            .map(|(_, index, _)| *index)
    };

    // (index taken, read as, value); a whole name may be read as two.
    let mut taken: Vec<(usize, &str, String)> = Vec::new();
    let take = |kind: Standard, read_as: &'static str| {
        winner(kind).map(|index| (index, read_as, posted[index].1.to_string()))
    };
    let first = take(Standard::FirstName, "first_name");
    let last = take(Standard::LastName, "last_name");
    taken.extend(take(Standard::Email, "email"));
    taken.extend(take(Standard::Phone, "phone"));
    if let Some(index) = winner(Standard::Message) {
        taken.push((index, &form.message_field, posted[index].1.to_string()));
    }
    taken.extend(take(Standard::Subject, SUBJECT_FIELD));
    // A first or last name wins over a whole name; with neither, the
    // whole name is split.
    let split_from = if first.is_none() && last.is_none() {
        winner(Standard::FullName)
    } else {
        None
    };
    taken.extend(first);
    taken.extend(last);
    if let Some(index) = split_from {
        if let Some(split) = name_split::split(posted[index].1) {
            taken.push((index, "first_name", split.given));
            taken.extend(split.family.map(|f| (index, "last_name", f)));
        }
    }

    let mut resolved = Resolved::default();
    let mut is_taken = vec![false; posted.len()];
    for (index, read_as, value) in &taken {
        resolved.fields.push(*read_as, value.as_str());
        resolved
            .renamed
            .push((read_as.to_string(), posted[*index].0.to_string()));
        is_taken[*index] = true;
    }
    // What was read for each field, to tell a second name saying the same.
    let whole_name: Vec<&str> = taken
        .iter()
        .filter(|(_, r, _)| *r == "first_name" || *r == "last_name")
        .map(|(_, _, v)| v.as_str())
        .collect();
    let whole_name = whole_name.join(" ");
    let said = |kind: Standard| -> &str {
        match kind {
            Standard::FullName => &whole_name,
            _ => winner(kind).map_or("", |index| posted[index].1),
        }
    };
    for (index, (name, value)) in posted.iter().enumerate() {
        if is_taken[index] || blank[index] {
            continue;
        }
        let passed_over = match standard[index] {
            None => false,
            // A second name for a field: dropped when it says the same.
            Some((kind, _)) => {
                let same = match kind {
                    Standard::FullName | Standard::FirstName | Standard::LastName => {
                        name_split::words(value).eq(name_split::words(said(kind)))
                    }
                    _ => value.trim() == said(kind).trim(),
                };
                if same {
                    continue;
                }
                true
            }
        };
        if !passed_over {
            resolved.fields.push(*name, *value);
        }
        resolved.rest.push(Posted {
            name: name.to_string(),
            value: value.to_string(),
            passed_over,
        });
    }
    resolved
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        let mut f = Fields::new();
        for (k, v) in pairs {
            f.push(*k, *v);
        }
        f
    }

    fn read(r: &Resolved) -> Vec<(String, String)> {
        r.fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn rest(r: &Resolved) -> Vec<(&str, &str, bool)> {
        r.rest
            .iter()
            .map(|p| (p.name.as_str(), p.value.as_str(), p.passed_over))
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_table_names_every_alias_of_the_issue_once() {
        let mut seen = std::collections::BTreeSet::new();
        for (_, names) in ALIASES {
            for n in names {
                assert!(seen.insert(n.to_ascii_lowercase()), "{n} twice");
                assert_eq!(*n, n.to_ascii_lowercase());
            }
        }
        assert_eq!(alias_of("_REPLYTO"), Some((Standard::Email, 3)));
        assert_eq!(alias_of("Your-Message"), Some((Standard::Message, 5)));
        assert_eq!(alias_of("Surname"), Some((Standard::LastName, 4)));
        assert_eq!(alias_of("company"), None);
        assert_eq!(alias_of("e_mail"), None);
    }

    #[test]
    fn a_formspree_form() {
        let r = resolve(
            &Form::bare("contact"),
            &fields(&[
                ("name", "Jane Doe"),
                ("_replyto", "jane@example.com"),
                ("message", "Hello"),
                ("_subject", "Pricing"),
                ("_gotcha", ""),
            ]),
        );
        assert_eq!(
            read(&r),
            pairs(&[
                ("email", "jane@example.com"),
                ("message", "Hello"),
                ("_subject", "Pricing"),
                ("first_name", "Jane"),
                ("last_name", "Doe"),
                ("_gotcha", ""),
            ])
        );
        assert_eq!(r.posted_name("email"), "_replyto");
        assert_eq!(r.posted_name("first_name"), "name");
        assert_eq!(r.posted_name("last_name"), "name");
        assert_eq!(r.posted_name("tags"), "tags");
        assert_eq!(rest(&r), vec![("_gotcha", "", false)]);
    }

    #[test]
    fn names_match_in_any_case() {
        let r = resolve(
            &Form::bare("c"),
            &fields(&[
                ("Name", "Cher"),
                ("EMAIL", "c@example.com"),
                ("Your-Message", "Hi"),
                ("Tel", "+1 555"),
            ]),
        );
        assert_eq!(
            read(&r),
            pairs(&[
                ("email", "c@example.com"),
                ("phone", "+1 555"),
                ("message", "Hi"),
                ("first_name", "Cher"),
            ])
        );
    }

    #[test]
    fn first_and_last_names_win_over_a_whole_name() {
        let r = resolve(
            &Form::bare("c"),
            &fields(&[
                ("name", "Someone Else"),
                ("first_name", "Ada"),
                ("lname", "Lovelace"),
                ("email", "a@example.com"),
            ]),
        );
        assert_eq!(
            read(&r),
            pairs(&[
                ("email", "a@example.com"),
                ("first_name", "Ada"),
                ("last_name", "Lovelace"),
            ])
        );
        // The whole name said something else: kept for the note.
        assert_eq!(rest(&r), vec![("name", "Someone Else", true)]);
        // The same name twice is said once.
        let same = resolve(
            &Form::bare("c"),
            &fields(&[
                ("fname", "Ada"),
                ("surname", "Lovelace"),
                ("name", " Ada  Lovelace"),
            ]),
        );
        assert!(same.rest.is_empty());
        // Only a first name: it still wins, and the whole name is kept.
        let one = resolve(
            &Form::bare("c"),
            &fields(&[("first_name", "Ada"), ("name", "Ada Lovelace")]),
        );
        assert_eq!(read(&one), pairs(&[("first_name", "Ada")]));
        assert_eq!(rest(&one), vec![("name", "Ada Lovelace", true)]);
    }

    #[test]
    fn the_name_listed_first_wins_and_the_other_is_kept_when_it_differs() {
        let r = resolve(
            &Form::bare("c"),
            &fields(&[
                ("_replyto", "old@example.com"),
                ("email", "new@example.com"),
                ("E-mail", "new@example.com"),
                ("subject", "A"),
                ("_subject", "B"),
            ]),
        );
        assert_eq!(
            read(&r),
            pairs(&[("email", "new@example.com"), ("_subject", "B")])
        );
        assert_eq!(r.posted_name("email"), "email");
        assert_eq!(
            rest(&r),
            vec![
                ("_replyto", "old@example.com", true),
                ("subject", "A", true)
            ]
        );
        // The same name twice in different cases: the first posted wins.
        let twice = resolve(
            &Form::bare("c"),
            &fields(&[("Email", "a@example.com"), ("email", "b@example.com")]),
        );
        assert_eq!(twice.posted_name("email"), "Email");
        assert_eq!(rest(&twice), vec![("email", "b@example.com", true)]);
        // A blank name counts as absent: the next one wins.
        let blank = resolve(
            &Form::bare("c"),
            &fields(&[("email", " "), ("_replyto", "r@example.com")]),
        );
        assert_eq!(read(&blank), pairs(&[("email", "r@example.com")]));
        assert!(blank.rest.is_empty());
    }

    #[test]
    fn the_form_own_names_keep_their_meaning() {
        let mut form = Form::bare("c");
        form.custom_fields.insert("name".into(), 5);
        form.consent_field = Some("subject".into());
        let r = resolve(
            &form,
            &fields(&[("name", "ACME"), ("subject", "on"), ("comments", "Hi")]),
        );
        assert_eq!(
            read(&r),
            pairs(&[("message", "Hi"), ("name", "ACME"), ("subject", "on")])
        );
        // A custom field sharing the message field's name: still the
        // message, and another message name is kept, not lost.
        let mut shared = Form::bare("c");
        shared.custom_fields.insert("message".into(), 8);
        let r = resolve(&shared, &fields(&[("comments", "A"), ("message", "B")]));
        assert_eq!(read(&r), pairs(&[("message", "B")]));
        assert_eq!(rest(&r), vec![("comments", "A", true)]);
        // A form with its own message field reads no message alias.
        form.message_field = "details".into();
        let r = resolve(&form, &fields(&[("message", "Hi"), ("details", "More")]));
        assert_eq!(read(&r), pairs(&[("message", "Hi"), ("details", "More")]));
        assert_eq!(
            rest(&r),
            vec![("message", "Hi", false), ("details", "More", false)]
        );
    }

    #[test]
    fn a_body_full_of_second_names_is_read_once_each() {
        // What a 32 KiB body can hold: thousands of fields.
        let mut posted = Fields::new();
        for i in 0..4000 {
            posted.push(
                if i % 2 == 0 { "_replyto" } else { "Email" },
                format!("{i}"),
            );
        }
        let r = resolve(&Form::bare("c"), &posted);
        assert_eq!(read(&r), pairs(&[("email", "1")]));
        assert_eq!(r.posted_name("email"), "Email");
        assert_eq!(r.rest.len(), 3999);
        assert!(r.rest.iter().all(|p| p.passed_over));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn alias_resolution_ignores_case(
            pairs in proptest::collection::vec(
                (prop::sample::select(ALIASES.iter().flat_map(|(_, n)| n.iter().copied()).collect::<Vec<_>>()),
                 any::<bool>(), "[a-z@. ]{0,12}"),
                0..8),
        ) {
            let lower = fields(&pairs.iter().map(|(n, _, v)| (*n, v.as_str())).collect::<Vec<_>>());
            let shouted: Vec<(String, &str)> = pairs.iter()
                .map(|(n, up, v)| (if *up { n.to_ascii_uppercase() } else { n.to_string() }, v.as_str()))
                .collect();
            let mixed = fields(&shouted.iter().map(|(n, v)| (n.as_str(), *v)).collect::<Vec<_>>());
            let (a, b) = (resolve(&Form::bare("c"), &lower), resolve(&Form::bare("c"), &mixed));
            prop_assert_eq!(read(&a), read(&b));
            prop_assert_eq!(a.rest.len(), b.rest.len());
        }

        #[test]
        fn nothing_posted_is_lost(
            pairs in proptest::collection::vec(
                (prop_oneof![
                    prop::sample::select(ALIASES.iter().flat_map(|(_, n)| n.iter().copied()).collect::<Vec<_>>())
                        .prop_map(str::to_string),
                    ".{0,10}",
                ], ".{0,16}"),
                0..10),
        ) {
            let posted = fields(&pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect::<Vec<_>>());
            let r = resolve(&Form::bare("c"), &posted);
            // Every non-blank value is read, kept for the note, or said
            // by a field that was read (a whole name by its two parts).
            let read_values: Vec<String> = r.fields.iter().map(|(_, v)| v.to_string()).collect();
            let joined = read_values.join(" ");
            for (name, value) in &pairs {
                if value.trim().is_empty() { continue; }
                let kept = r.rest.iter().any(|p| &p.name == name && &p.value == value);
                let said = read_values.iter().any(|v| v.trim() == value.trim())
                    || name_split::words(value).all(|w| joined.contains(w));
                prop_assert!(kept || said, "{name}={value:?} lost");
            }
        }
    }
}
