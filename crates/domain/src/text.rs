//! Text compared as people mean it: ignoring case and accents. Step triggers and chat
//! search fold both sides with [`fold`], so `preço`, `PRECO` and `Preco` are one word
//! and a search for `joao` finds `João`.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// `text` without accents and in lower case: decomposed (NFD), its combining marks
/// dropped, then lowercased letter by letter. `João` → `joao`, `CONCEIÇÃO` →
/// `conceicao`, `Müller` → `muller`, `Ñandú` → `nandu`. Letters that are not a base
/// letter plus a mark stay as they are (`ß`, `ø`, `æ`, `ł`).
///
/// Each letter is lowercased on its own, never by its place in a word, so a fragment
/// folds to a fragment of the whole word's fold, which substring search relies on.
/// That is why the Greek final sigma `ς`, the one letter whose lowercase depends on
/// its place, becomes `σ`, as in Unicode case folding: `ΟΔΟΣ` and `οδος` agree.
pub fn fold(text: &str) -> String {
    text.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .map(|c| if c == 'ς' { 'σ' } else { c })
        .collect()
}

/// Removes U+0000 from every string of `value`, keys included. Providers' notifications
/// are taken this way rather than refused: a refusal would only have them retried, and
/// the character carries nothing a person wrote.
pub fn strip_nul(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(text) if text.contains('\0') => text.retain(|c| c != '\0'),
        Value::Array(items) => items.iter_mut().for_each(strip_nul),
        Value::Object(fields) => {
            if fields.keys().any(|key| key.contains('\0')) {
                *fields = std::mem::take(fields)
                    .into_iter()
                    .map(|(key, value)| (key.replace('\0', ""), value))
                    .collect();
            }
            fields.values_mut().for_each(strip_nul);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::{fold, strip_nul};
    use proptest::prelude::*;

    #[test]
    fn nul_characters_are_stripped_from_values_and_keys() {
        let mut value = serde_json::json!({
            "te\u{0}xt": {"message": "o\u{0}i"},
            "list": ["a\u{0}", 1, null],
            "plain": "kept"
        });
        strip_nul(&mut value);
        assert_eq!(
            value,
            serde_json::json!({"text": {"message": "oi"}, "list": ["a", 1, null], "plain": "kept"})
        );
    }

    #[test]
    fn accents_and_case_fold_away() {
        for (text, folded) in [
            ("João Silva", "joao silva"),
            ("JOÃO", "joao"),
            ("Conceição", "conceicao"),
            ("AÇÃO", "acao"),
            ("MÜLLER", "muller"),
            ("Ñandú", "nandu"),
            ("Pingüino", "pinguino"),
            ("Érica Gonçalves", "erica goncalves"),
            ("àéîõü ÀÉÎÕÜ", "aeiou aeiou"),
            ("İstanbul", "istanbul"),
            ("already plain 123", "already plain 123"),
            ("", ""),
        ] {
            assert_eq!(fold(text), folded, "{text}");
        }
    }

    #[test]
    fn precomposed_and_decomposed_accents_fold_the_same() {
        assert_eq!(fold("Jo\u{e3}o"), fold("Joa\u{303}o"));
        assert_eq!(fold("Joa\u{303}o"), "joao");
    }

    #[test]
    fn letters_without_a_decomposition_keep_their_shape() {
        assert_eq!(fold("Straße"), "straße");
        assert_eq!(fold("Søren Ærø"), "søren ærø");
        assert_eq!(fold("Łódź"), "łodz");
    }

    #[test]
    fn the_final_sigma_folds_like_any_sigma() {
        assert_eq!(fold("ΟΔΟΣ"), "οδοσ");
        assert_eq!(fold("οδος"), "οδοσ");
        assert!(fold("ΟΔΟΣΑΚΗΣ").contains(&fold("ΟΔΟΣ")));
    }

    proptest! {
        #[test]
        fn folding_twice_changes_nothing(text in "\\PC{0,24}") {
            let once = fold(&text);
            prop_assert_eq!(fold(&once), once);
        }

        #[test]
        fn a_fragment_folds_to_a_fragment_of_the_whole(
            before in "\\PC{0,8}", middle in "\\PC{1,8}", after in "\\PC{0,8}",
        ) {
            let whole = fold(&format!("{before}{middle}{after}"));
            prop_assert!(whole.contains(&fold(&middle)), "{whole:?} lacks {middle:?}");
        }
    }
}
