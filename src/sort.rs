//! Sorting by an integer key, stably, with one instance of the sort for the whole crate.
//!
//! No kernel ABI: a size measure. `<[T]>::sort_by_key` is generic over the element and the
//! key, so each call site on another element type gets its own copy of the standard
//! library's stable sort (driftsort, ~4 KB of code each); the parser sorts symbols,
//! relocations and BTF entries that way at six sites. [`by_key`] sorts `(key, position)`
//! pairs instead, always the same type, and moves the elements into that order: one copy of
//! the sort, and a few bytes of moving per element type (BENCHMARKS.md, "tcpconnect small
//! again").

/// Sorts `items` by `key`, stably: equal keys keep their order, as with
/// `items.sort_by_key(key)`.
pub(crate) fn by_key<T>(items: &mut Vec<T>, key: impl Fn(&T) -> u64) {
    let mut order: Vec<(u64, usize)> = items.iter().map(key).zip(0..).collect();
    // No two pairs are equal (their positions differ), so the unstable sort of the pairs
    // is the stable order of the items.
    order.sort_unstable();
    let mut slots: Vec<Option<T>> = items.drain(..).map(Some).collect();
    items.extend(
        order
            .iter()
            .filter_map(|&(_, at)| slots.get_mut(at).and_then(Option::take)),
    );
}

#[cfg(test)]
mod tests {
    use super::by_key;

    #[test]
    fn sorts_as_the_standard_stable_sort_does() {
        let items: Vec<(u32, char)> = vec![
            (3, 'a'),
            (1, 'b'),
            (3, 'c'),
            (0, 'd'),
            (1, 'e'),
            (u32::MAX, 'f'),
            (0, 'g'),
        ];
        let mut ours = items.clone();
        by_key(&mut ours, |&(key, _)| u64::from(key));
        let mut std = items;
        std.sort_by_key(|&(key, _)| key);
        assert_eq!(ours, std);
        assert_eq!(ours.iter().map(|&(_, c)| c).collect::<String>(), "dgbeacf");
    }

    #[test]
    fn empty_and_single() {
        let mut none: Vec<u8> = Vec::new();
        by_key(&mut none, |&x| u64::from(x));
        assert!(none.is_empty());
        let mut one = vec![7u8];
        by_key(&mut one, |&x| u64::from(x));
        assert_eq!(one, [7]);
    }
}
