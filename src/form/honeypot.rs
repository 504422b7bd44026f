//! Honeypots: fields a person never sees, so never fills in
//! (docs/CONTRACT.md 3.6). Filled in, the post is a bot's: it gets the
//! success answer and nothing is stored or sent.
//!
//! The usual names are recognised, so a form moved from Formspree
//! (`_gotcha`), a WordPress plugin (`_honeypot`) or Netlify Forms
//! (`bot-field`) keeps its trap; a form may name its own with
//! `honeypot_field`.

use crate::form::body::Fields;
use crate::form::forms::Form;

/// The honeypot names every form recognises, in any case.
pub const HONEYPOT_FIELDS: [&str; 3] = ["_gotcha", "_honeypot", "bot-field"];

/// True when `name` is one of the usual honeypot names, in any case: a
/// form's own field must never be named so, or every post filling it in
/// would be taken for a bot's.
pub fn is_usual_name(name: &str) -> bool {
    HONEYPOT_FIELDS.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// True when `name` is one of `form`'s honeypots.
pub fn is_honeypot(form: &Form, name: &str) -> bool {
    is_usual_name(name) || form.honeypot_field.as_deref() == Some(name)
}

/// The honeypot that was filled in, when one was: the post is a bot's.
pub fn tripped<'a>(form: &Form, fields: &'a Fields) -> Option<&'a str> {
    fields
        .iter()
        .find(|(name, value)| is_honeypot(form, name) && !value.trim().is_empty())
        .map(|(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        let mut f = Fields::new();
        for (k, v) in pairs {
            f.push(*k, *v);
        }
        f
    }

    #[test]
    fn each_usual_name_and_the_form_own_trip_it() {
        let mut form = Form::bare("c");
        form.honeypot_field = Some("fax_number".into());
        for name in [
            "_gotcha",
            "_honeypot",
            "bot-field",
            "Bot-Field",
            "fax_number",
        ] {
            let post = fields(&[("email", "a@example.com"), (name, "http://spam.example")]);
            assert_eq!(tripped(&form, &post), Some(name), "{name}");
        }
        // Empty, as a person leaves it; another form's own name.
        let person = fields(&[
            ("_gotcha", ""),
            ("bot-field", "  "),
            ("email", "a@example.com"),
        ]);
        assert_eq!(tripped(&form, &person), None);
        let other = fields(&[("fax_number", "123")]);
        assert_eq!(tripped(&Form::bare("c"), &other), None);
        assert_eq!(tripped(&form, &fields(&[("Fax_Number", "1")])), None);
    }
}
