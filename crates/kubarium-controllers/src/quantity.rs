//! Resource quantities (`100m`, `1.5`, `128Mi`, `1e3`) as apimachinery's `resource.Quantity`
//! reads them: exact fractions, rounded up to whole millicores (`MilliValue`) or units
//! (`Value`). The scheduler counts requests with them, the node agents hand runtimes the
//! integers they enforce.

/// A quantity as the exact fraction `numerator / denominator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity {
    numerator: i128,
    denominator: i128,
}

impl Quantity {
    /// Zero.
    pub const ZERO: Self = Self {
        numerator: 0,
        denominator: 1,
    };
    /// One unit.
    pub const ONE: Self = Self {
        numerator: 1,
        denominator: 1,
    };

    /// Parses a quantity in the API's syntax; `None` if it is not one.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (negative, rest) = match text.as_bytes().first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, suffix) = rest.split_at(end);
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && fraction.is_empty())
            || fraction.contains('.')
            || whole.len() + fraction.len() > 30
        {
            return None;
        }
        let digits: i128 = format!("{whole}{fraction}").parse().ok()?;
        let mut numerator = if negative { -digits } else { digits };
        let mut denominator = 10i128.checked_pow(u32::try_from(fraction.len()).ok()?)?;
        let (base, exponent): (i128, i32) = match suffix {
            "" => (10, 0),
            "n" => (10, -9),
            "u" => (10, -6),
            "m" => (10, -3),
            "k" => (10, 3),
            "M" => (10, 6),
            "G" => (10, 9),
            "T" => (10, 12),
            "P" => (10, 15),
            "E" => (10, 18),
            "Ki" => (2, 10),
            "Mi" => (2, 20),
            "Gi" => (2, 30),
            "Ti" => (2, 40),
            "Pi" => (2, 50),
            "Ei" => (2, 60),
            e if e.len() > 1 && e.starts_with(['e', 'E']) => (10, e[1..].parse().ok()?),
            _ => return None,
        };
        let factor = base.checked_pow(exponent.unsigned_abs())?;
        if exponent >= 0 {
            numerator = numerator.checked_mul(factor)?;
        } else {
            denominator = denominator.checked_mul(factor)?;
        }
        Some(Self {
            numerator,
            denominator,
        })
    }

    /// In thousandths, rounded up (`MilliValue`).
    pub fn milli(self) -> i64 {
        self.scaled(1000)
    }

    /// In units, rounded up (`Value`).
    pub fn value(self) -> i64 {
        self.scaled(1)
    }

    /// Whether it is zero.
    pub fn is_zero(self) -> bool {
        self.numerator == 0
    }

    fn scaled(self, scale: i128) -> i64 {
        let n = self.numerator.saturating_mul(scale);
        let q = n.div_euclid(self.denominator) + i128::from(n.rem_euclid(self.denominator) != 0);
        i64::try_from(q).unwrap_or(if q > 0 { i64::MAX } else { i64::MIN })
    }
}

/// `ceil(amount / divisor)` as the downward API shows a resource: CPU compares
/// millicores, everything else whole units.
pub fn divide(amount: Quantity, divisor: Quantity, cpu: bool) -> i64 {
    let (a, d) = if cpu {
        (amount.milli(), divisor.milli())
    } else {
        (amount.value(), divisor.value())
    };
    if d == 0 {
        return a;
    }
    let (a, d) = (i128::from(a), i128::from(d));
    let q = a.div_euclid(d) + i128::from(a.rem_euclid(d) != 0);
    i64::try_from(q).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn milli(s: &str) -> i64 {
        Quantity::parse(s).map(Quantity::milli).unwrap_or(-1)
    }

    fn value(s: &str) -> i64 {
        Quantity::parse(s).map(Quantity::value).unwrap_or(-1)
    }

    #[test]
    fn cpu_in_millicores() {
        assert_eq!(milli("100m"), 100);
        assert_eq!(milli("1.5"), 1500);
        assert_eq!(milli("2"), 2000);
        assert_eq!(milli("0.1"), 100);
        assert_eq!(milli("1u"), 1);
        assert_eq!(milli("250000u"), 250);
        assert_eq!(milli("1e-3"), 1);
    }

    #[test]
    fn memory_in_bytes() {
        assert_eq!(value("1Gi"), 1 << 30);
        assert_eq!(value("128Mi"), 128 << 20);
        assert_eq!(value("1.5Ki"), 1536);
        assert_eq!(value("129e6"), 129_000_000);
        assert_eq!(value("129E6"), 129_000_000);
        assert_eq!(value("1k"), 1000);
        assert_eq!(value("1M"), 1_000_000);
        assert_eq!(value("128974848"), 128_974_848);
        assert_eq!(value("0.1"), 1, "rounded up");
        assert_eq!(value("+5"), 5);
        assert_eq!(value("-5"), -5);
    }

    #[test]
    fn not_quantities() {
        for bad in ["", "abc", "1Qi", "1.2.3", "Gi", "1e", ".", "1 Gi"] {
            assert_eq!(Quantity::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn division_rounds_up() {
        let q = |s| Quantity::parse(s).unwrap_or(Quantity::ZERO);
        assert_eq!(divide(q("250m"), q("1"), true), 1);
        assert_eq!(divide(q("250m"), q("1m"), true), 250);
        assert_eq!(divide(q("1500m"), q("100m"), true), 15);
        assert_eq!(divide(q("128Mi"), q("1Mi"), false), 128);
        assert_eq!(divide(q("128Mi"), q("1"), false), 134_217_728);
        assert_eq!(divide(q("1000"), q("1Ki"), false), 1);
        assert_eq!(divide(q("8Gi"), q("1Gi"), false), 8);
    }
}
