//! Natural order for showing class names: "s2" before "s10", as a person
//! counts. Only for display: a dataset's label indices stay in the plain sorted
//! order of its folder names, so old runs keep their label numbering.

use std::cmp::Ordering;

/// Compare two names with runs of digits compared as numbers ("s2" < "s10").
/// Letters compare case-insensitively first, then exactly, so the order is total.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => break,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let (nx, rx) = split_digits(x);
                let (ny, ry) = split_digits(y);
                let (tx, ty) = (trim_zeros(nx), trim_zeros(ny));
                // more significant digits is a bigger number; equal length
                // compares digit by digit; then fewer leading zeros first
                let o = tx
                    .len()
                    .cmp(&ty.len())
                    .then_with(|| tx.cmp(ty))
                    .then_with(|| nx.len().cmp(&ny.len()));
                if o != Ordering::Equal {
                    return o;
                }
                (x, y) = (rx, ry);
            }
            (Some(c), Some(d)) => {
                let o = c.to_ascii_lowercase().cmp(&d.to_ascii_lowercase());
                if o != Ordering::Equal {
                    return o;
                }
                (x, y) = (&x[1..], &y[1..]);
            }
        }
    }
    a.cmp(b)
}

fn split_digits(s: &[u8]) -> (&[u8], &[u8]) {
    let n = s.iter().take_while(|c| c.is_ascii_digit()).count();
    s.split_at(n)
}

fn trim_zeros(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&c| c == b'0').count();
    &s[n..]
}

/// The indices of `names` in natural order (for showing classes whose label
/// index is their position in `names`).
pub fn natural_order<S: AsRef<str>>(names: &[S]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by(|&i, &j| natural_cmp(names[i].as_ref(), names[j].as_ref()));
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_compare_as_numbers() {
        let mut v = vec!["s10", "s2", "s1", "s11", "s20", "s3"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["s1", "s2", "s3", "s10", "s11", "s20"]);
    }

    #[test]
    fn letters_ignore_case_and_the_order_is_total() {
        let mut v = vec![
            "bob",
            "Alice",
            "alice",
            "person_010",
            "person_9",
            "person_09",
        ];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            [
                "Alice",
                "alice",
                "bob",
                "person_9",
                "person_09",
                "person_010"
            ]
        );
        assert_eq!(natural_cmp("a", "a"), Ordering::Equal);
        assert_eq!(natural_cmp("a", "a1"), Ordering::Less);
        assert_eq!(
            natural_cmp("a99999999999999999999999", "a100000000000000000000000"),
            Ordering::Less
        );
    }

    #[test]
    fn order_gives_indices() {
        assert_eq!(natural_order(&["s1", "s10", "s2"]), vec![0, 2, 1]);
    }
}
