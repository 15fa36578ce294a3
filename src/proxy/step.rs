//! A filter's Redis steps, typed: each kind of Redis work a request or a root submits is a
//! variant of the filter's own enum, and its answer comes back as that variant. The host
//! carries it as a number (`code`), the only form a call's tag has in the ABI; the filter turns
//! it back with `from_code` and matches on the variants, so the compiler checks that every step
//! has its continuation, and a number no step has is told apart from every step.

pub trait Step: Copy + PartialEq + Sized + 'static {
    /// Every step, once. A step's code is its place here plus one (0 is no step).
    const ALL: &'static [Self];

    /// The number the host carries for this step.
    fn code(self) -> u32 {
        Self::ALL
            .iter()
            .position(|s| *s == self)
            .map_or(0, |i| i as u32 + 1)
    }

    /// The step a number stands for, None if none does.
    fn from_code(code: u32) -> Option<Self> {
        let index = (code as usize).checked_sub(1)?;
        Self::ALL.get(index).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Two {
        Read,
        Write,
    }

    impl Step for Two {
        const ALL: &'static [Self] = &[Two::Read, Two::Write];
    }

    #[test]
    fn a_step_goes_through_its_code_and_back() {
        for step in Two::ALL {
            assert_eq!(Two::from_code(step.code()), Some(*step));
        }
        assert_eq!(Two::Write.code(), 2);
        assert_eq!(Two::from_code(0), None);
        assert_eq!(Two::from_code(3), None);
    }
}
