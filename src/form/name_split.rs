//! A whole name (`name`, `your-name`, ...) split into Keap's given and
//! family name (docs/CONTRACT.md 1, "Form fields"): the first word is the
//! given name, the other words the family name.
//!
//! The rule is the simple one a person can predict: it does not guess
//! which words are particles (`van`, `de`) or which order a culture puts
//! names in. A form that needs better asks for `first_name` and
//! `last_name`, which win over a whole name.

/// A whole name, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitName {
    /// The first word.
    pub given: String,
    /// The other words, one space apart; `None` for a single word.
    pub family: Option<String>,
}

/// True for the characters that separate words of a name. Control
/// characters (a line break) are not separators: they stay in a word, so
/// that validation refuses them as in any one-line field.
fn separates(c: char) -> bool {
    c.is_whitespace() && !c.is_control()
}

/// The words of `text`, as [`split`] sees them.
pub fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(separates).filter(|w| !w.is_empty())
}

/// Splits `whole` into its first word and the rest; `None` when it holds
/// no word at all.
pub fn split(whole: &str) -> Option<SplitName> {
    let mut words = words(whole);
    let given = words.next()?.to_string();
    let rest: Vec<&str> = words.collect();
    Some(SplitName {
        given,
        family: (!rest.is_empty()).then(|| rest.join(" ")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parts(whole: &str) -> Option<(String, Option<String>)> {
        split(whole).map(|s| (s.given, s.family))
    }

    #[test]
    fn one_two_and_several_words() {
        assert_eq!(parts("Cher"), Some(("Cher".into(), None)));
        assert_eq!(
            parts(" Jane   Doe "),
            Some(("Jane".into(), Some("Doe".into())))
        );
        assert_eq!(
            parts("Ludwig van  Beethoven"),
            Some(("Ludwig".into(), Some("van Beethoven".into())))
        );
        assert_eq!(parts(""), None);
        assert_eq!(parts(" \u{3000} "), None);
    }

    #[test]
    fn unicode_names_and_separators() {
        assert_eq!(
            parts("José\u{a0}María García"),
            Some(("José".into(), Some("María García".into())))
        );
        assert_eq!(
            parts("山田\u{3000}太郎"),
            Some(("山田".into(), Some("太郎".into())))
        );
        assert_eq!(
            parts("Åsa Öberg-Ünal"),
            Some(("Åsa".into(), Some("Öberg-Ünal".into())))
        );
    }

    #[test]
    fn a_line_break_stays_in_its_word() {
        assert_eq!(parts("Jane\nDoe"), Some(("Jane\nDoe".into(), None)));
        assert_eq!(
            parts("Jane Do\te"),
            Some(("Jane".into(), Some("Do\te".into())))
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn any_text_splits_without_panic_and_keeps_every_word(whole in any::<String>()) {
            let original: Vec<&str> = words(&whole).collect();
            match split(&whole) {
                None => prop_assert!(original.is_empty()),
                Some(s) => {
                    let mut again: Vec<&str> = vec![s.given.as_str()];
                    if let Some(family) = &s.family {
                        prop_assert!(!family.is_empty());
                        again.extend(words(family));
                    }
                    prop_assert_eq!(again, original);
                    prop_assert!(!s.given.chars().any(separates));
                }
            }
        }

        #[test]
        fn words_joined_by_spaces_round_trip(
            list in proptest::collection::vec("[^\\s]{1,12}", 1..6),
        ) {
            let s = split(&list.join(" ")).unwrap();
            prop_assert_eq!(&s.given, &list[0]);
            let rest = list[1..].join(" ");
            prop_assert_eq!(s.family, (!rest.is_empty()).then_some(rest));
        }
    }
}
