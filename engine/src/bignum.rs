//! A minimal arbitrary-precision unsigned integer, only what the exact
//! `long double` emulation in `ldouble.rs` needs: build from decimal or hex
//! digits, shift, add, subtract, compare, divide (bit by bit, for short
//! quotients) and print in decimal.
//!
//! Invariants:
//! - `limbs` is little-endian base 2^32 with no trailing zero limb, so zero
//!   is the empty vector and equal values have equal representations.

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Big {
    /// Little-endian base-2^32 digits, normalized (no zero top limb).
    limbs: Vec<u32>,
}

impl Big {
    pub(crate) fn zero() -> Big {
        Big { limbs: Vec::new() }
    }

    pub(crate) fn from_u64(value: u64) -> Big {
        let mut big = Big {
            limbs: vec![value as u32, (value >> 32) as u32],
        };
        big.normalize();
        big
    }

    /// `10^exponent`.
    pub(crate) fn pow10(exponent: u32) -> Big {
        let mut big = Big::from_u64(1);
        big.mul_pow10(exponent);
        big
    }

    fn normalize(&mut self) {
        while self.limbs.last() == Some(&0) {
            self.limbs.pop();
        }
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.limbs.is_empty()
    }

    /// Number of significant bits (0 for zero).
    pub(crate) fn bit_len(&self) -> u64 {
        match self.limbs.last() {
            None => 0,
            Some(top) => self.limbs.len() as u64 * 32 - u64::from(top.leading_zeros()),
        }
    }

    /// Bit `index` (0 is the least significant).
    pub(crate) fn bit(&self, index: u64) -> bool {
        let limb = (index / 32) as usize;
        limb < self.limbs.len() && self.limbs[limb] >> (index % 32) & 1 == 1
    }

    /// Whether any bit below `index` is set.
    pub(crate) fn any_below(&self, index: u64) -> bool {
        let full = ((index / 32) as usize).min(self.limbs.len());
        if self.limbs[..full].iter().any(|&limb| limb != 0) {
            return true;
        }
        let rest = index % 32;
        full < self.limbs.len() && rest > 0 && self.limbs[full] & ((1u32 << rest) - 1) != 0
    }

    /// The value as a u64; the caller knows it fits.
    pub(crate) fn to_u64(&self) -> u64 {
        assert!(
            self.bit_len() <= 64,
            "Big::to_u64 on a value wider than 64 bits"
        );
        let low = u64::from(self.limbs.first().copied().unwrap_or(0));
        let high = u64::from(self.limbs.get(1).copied().unwrap_or(0));
        high << 32 | low
    }

    pub(crate) fn mul_small(&mut self, factor: u32) {
        let mut carry = 0u64;
        for limb in &mut self.limbs {
            let product = u64::from(*limb) * u64::from(factor) + carry;
            *limb = product as u32;
            carry = product >> 32;
        }
        if carry != 0 {
            self.limbs.push(carry as u32);
        }
        self.normalize();
    }

    pub(crate) fn add_small(&mut self, addend: u32) {
        let mut carry = u64::from(addend);
        for limb in &mut self.limbs {
            if carry == 0 {
                break;
            }
            let sum = u64::from(*limb) + carry;
            *limb = sum as u32;
            carry = sum >> 32;
        }
        if carry != 0 {
            self.limbs.push(carry as u32);
        }
    }

    pub(crate) fn mul_pow10(&mut self, mut exponent: u32) {
        while exponent >= 9 {
            self.mul_small(1_000_000_000);
            exponent -= 9;
        }
        if exponent > 0 {
            self.mul_small(10u32.pow(exponent));
        }
    }

    pub(crate) fn shl(&self, bits: u64) -> Big {
        if self.is_zero() {
            return Big::zero();
        }
        let limbs = (bits / 32) as usize;
        let rest = (bits % 32) as u32;
        let mut out = vec![0u32; limbs];
        out.reserve(self.limbs.len() + 1);
        let mut carry = 0u32;
        for &limb in &self.limbs {
            if rest == 0 {
                out.push(limb);
            } else {
                out.push(limb << rest | carry);
                carry = limb >> (32 - rest);
            }
        }
        if carry != 0 {
            out.push(carry);
        }
        let mut big = Big { limbs: out };
        big.normalize();
        big
    }

    pub(crate) fn shr(&self, bits: u64) -> Big {
        let limbs = (bits / 32) as usize;
        if limbs >= self.limbs.len() {
            return Big::zero();
        }
        let rest = (bits % 32) as u32;
        let source = &self.limbs[limbs..];
        let mut out = Vec::with_capacity(source.len());
        for (i, &limb) in source.iter().enumerate() {
            let high = source.get(i + 1).copied().unwrap_or(0);
            if rest == 0 {
                out.push(limb);
            } else {
                out.push(limb >> rest | high << (32 - rest));
            }
        }
        let mut big = Big { limbs: out };
        big.normalize();
        big
    }

    pub(crate) fn add(&self, other: &Big) -> Big {
        let (long, short) = if self.limbs.len() >= other.limbs.len() {
            (self, other)
        } else {
            (other, self)
        };
        let mut out = Vec::with_capacity(long.limbs.len() + 1);
        let mut carry = 0u64;
        for (i, &limb) in long.limbs.iter().enumerate() {
            let sum = u64::from(limb) + u64::from(short.limbs.get(i).copied().unwrap_or(0)) + carry;
            out.push(sum as u32);
            carry = sum >> 32;
        }
        if carry != 0 {
            out.push(carry as u32);
        }
        Big { limbs: out }
    }

    /// `self -= other`; `self` must be at least `other`.
    pub(crate) fn sub_assign(&mut self, other: &Big) {
        assert!(*self >= *other, "Big subtraction would go negative");
        let mut borrow = 0i64;
        for (i, limb) in self.limbs.iter_mut().enumerate() {
            let diff =
                i64::from(*limb) - i64::from(other.limbs.get(i).copied().unwrap_or(0)) - borrow;
            if diff < 0 {
                *limb = (diff + (1i64 << 32)) as u32;
                borrow = 1;
            } else {
                *limb = diff as u32;
                borrow = 0;
            }
        }
        assert_eq!(borrow, 0, "Big subtraction borrow left over");
        self.normalize();
    }

    /// `(self / divisor, self % divisor != 0)`. Bit-by-bit long division:
    /// meant for quotients of a few dozen bits.
    pub(crate) fn div_rem(&self, divisor: &Big) -> (Big, bool) {
        assert!(!divisor.is_zero(), "Big division by zero");
        if *self < *divisor {
            return (Big::zero(), !self.is_zero());
        }
        let shift = self.bit_len() - divisor.bit_len();
        let mut remainder = self.clone();
        let mut quotient = Big::zero();
        for i in (0..=shift).rev() {
            let step = divisor.shl(i);
            quotient = quotient.shl(1);
            if remainder >= step {
                remainder.sub_assign(&step);
                quotient.add_small(1);
            }
        }
        (quotient, !remainder.is_zero())
    }

    /// Divides in place by a small divisor, returning the remainder.
    fn div_small(&mut self, divisor: u32) -> u32 {
        let mut remainder = 0u64;
        for limb in self.limbs.iter_mut().rev() {
            let current = remainder << 32 | u64::from(*limb);
            *limb = (current / u64::from(divisor)) as u32;
            remainder = current % u64::from(divisor);
        }
        self.normalize();
        remainder as u32
    }

    /// Decimal digits, without leading zeros ("0" for zero).
    pub(crate) fn to_decimal(&self) -> String {
        if self.is_zero() {
            return "0".to_string();
        }
        let mut chunks = Vec::new();
        let mut rest = self.clone();
        while !rest.is_zero() {
            chunks.push(rest.div_small(1_000_000_000));
        }
        let mut text = String::with_capacity(chunks.len() * 9);
        let mut iter = chunks.iter().rev();
        if let Some(first) = iter.next() {
            text.push_str(&first.to_string());
        }
        for chunk in iter {
            text.push_str(&format!("{chunk:09}"));
        }
        text
    }
}

impl PartialOrd for Big {
    fn partial_cmp(&self, other: &Big) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Big {
    fn cmp(&self, other: &Big) -> Ordering {
        self.limbs
            .len()
            .cmp(&other.limbs.len())
            .then_with(|| self.limbs.iter().rev().cmp(other.limbs.iter().rev()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_round_trips() {
        let a = Big::pow10(30);
        assert_eq!(a.to_decimal(), format!("1{}", "0".repeat(30)));
        let b = a.shl(70).shr(70);
        assert_eq!(a, b);
        let (q, rem) = a.div_rem(&Big::from_u64(7));
        assert!(rem);
        assert_eq!(q.to_decimal(), "142857142857142857142857142857");
        let mut c = a.add(&Big::from_u64(5));
        c.sub_assign(&a);
        assert_eq!(c.to_u64(), 5);
        assert!(a.bit(a.bit_len() - 1));
        assert!(!Big::from_u64(8).any_below(3));
        assert!(Big::from_u64(9).any_below(3));
    }
}
