//! Kubernetes quantities (`500m`, `2`, `8Gi`, `1e3`) as the numbers the map adds up: CPU in
//! millicores, memory in bytes. The parsing is the scheduler's own (exact fractions,
//! rounded up as apimachinery's `MilliValue`/`Value` do), so the map adds requests up as
//! the scheduler does.

use kubarium_controllers::quantity::Quantity;

/// `quantity` in thousandths of its unit (CPU millicores), rounded up as the scheduler
/// rounds requests; `None` when it is not a non-negative quantity.
pub(crate) fn milli(quantity: &str) -> Option<u64> {
    u64::try_from(Quantity::parse(quantity)?.milli()).ok()
}

/// `quantity` in whole units (memory bytes), rounded up; `None` when it is not a
/// non-negative quantity. Saturates at `i64::MAX` (about 9.2 EB), as apimachinery's `Value`.
pub(crate) fn units(quantity: &str) -> Option<u64> {
    u64::try_from(Quantity::parse(quantity)?.value()).ok()
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
        assert_eq!(units("8E"), Some(8_000_000_000_000_000_000));
        assert_eq!(units("12E"), Some(i64::MAX.unsigned_abs()), "saturates");
        assert_eq!(units("-1"), None);
        assert_eq!(units("5Xi"), None);
    }
}
