//! Kubernetes quantities (`500m`, `2`, `8Gi`, `1e3`) as the numbers the map adds up: CPU in
//! millicores, memory in bytes.

/// `quantity` in thousandths of its unit (CPU millicores), rounded up as the scheduler
/// rounds requests; `None` when it is not a quantity.
pub(crate) fn milli(quantity: &str) -> Option<u64> {
    scaled(quantity, 1000.0)
}

/// `quantity` in whole units (memory bytes), rounded up; `None` when it is not a quantity.
pub(crate) fn units(quantity: &str) -> Option<u64> {
    scaled(quantity, 1.0)
}

fn scaled(quantity: &str, factor: f64) -> Option<u64> {
    let quantity = quantity.trim();
    let split = quantity
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(quantity.len());
    let (number, suffix) = quantity.split_at(split);
    let number: f64 = number.parse().ok()?;
    let multiplier = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        "Pi" => 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0,
        "Ei" => 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0,
        exponent => {
            let exponent: i32 = exponent
                .strip_prefix('e')
                .or_else(|| exponent.strip_prefix('E'))?
                .parse()
                .ok()?;
            10f64.powi(exponent)
        }
    };
    let value = number * multiplier * factor;
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    // Quantities like 0.1 are not exact in binary; a tiny tolerance keeps 100m at 100.
    let rounded = value.round();
    let value = if (value - rounded).abs() < 1e-6 {
        rounded
    } else {
        value.ceil()
    };
    // Saturates at u64::MAX for absurd values, which is what "no limit" reads as anyway.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Some(value as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_in_millicores() {
        assert_eq!(milli("2"), Some(2000));
        assert_eq!(milli("500m"), Some(500));
        assert_eq!(milli("0.1"), Some(100));
        assert_eq!(milli("1.5"), Some(1500));
        assert_eq!(milli("1e3"), Some(1_000_000));
        assert_eq!(milli("250000u"), Some(250));
        assert_eq!(milli("1n"), Some(1), "rounded up, as requests are");
        assert_eq!(milli("lots"), None);
        assert_eq!(milli(""), None);
    }

    #[test]
    fn memory_in_bytes() {
        assert_eq!(units("8Gi"), Some(8 * 1024 * 1024 * 1024));
        assert_eq!(units("128Mi"), Some(128 * 1024 * 1024));
        assert_eq!(units("1k"), Some(1000));
        assert_eq!(units("1M"), Some(1_000_000));
        assert_eq!(units("16313244Ki"), Some(16_313_244 * 1024));
        assert_eq!(units("1e3"), Some(1000));
        assert_eq!(units("12E"), Some(12_000_000_000_000_000_000));
        assert_eq!(units("5Xi"), None);
    }
}
