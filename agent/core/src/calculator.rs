//! The contract of the EKS AMI's `max-pods-calculator.sh` (awslabs/amazon-eks-ami
//! `templates/al2/runtime/max-pods-calculator.sh`; docs/sizing.md "The calculator"): its
//! flags, mapped to [`SizingOptions`], so `nodecap max-pods` prints the same integer.
//!
//! Two deliberate differences: a `v`-prefixed CNI version (`v1.11.2`) is read as 1.11 (the
//! script reads major 0 and drops prefix delegation), and bare-metal types (no hypervisor) do
//! prefix delegation, as ipamd does.

use super::sizing::{CapPolicy, SizingOptions};

/// The calculator's flags, as plain data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CalculatorFlags {
    pub cni_version: CniVersion,
    pub custom_networking: bool,
    pub prefix_delegation: bool,
    pub max_enis: Option<u32>,
    /// `--show-max-allowed`: the number without the 110/250 ceiling.
    pub show_max_allowed: bool,
}

/// A VPC CNI version's major and minor numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CniVersion {
    pub major: u32,
    pub minor: u32,
}

/// A `--cni-version` that is not `MAJOR.MINOR[.PATCH]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--cni-version {0:?}: expected MAJOR.MINOR[.PATCH], e.g. 1.19.2 or v1.19.2-eksbuild.1")]
pub struct CniVersionError(String);

impl std::str::FromStr for CniVersion {
    type Err = CniVersionError;

    /// Accepts `1.11.4`, `v1.11.2` and `1.11.4-eksbuild.1`.
    fn from_str(version: &str) -> Result<Self, Self::Err> {
        let bad = || CniVersionError(version.to_owned());
        let trimmed = version.strip_prefix(['v', 'V']).unwrap_or(version);
        let mut parts = trimmed.split('.');
        let mut number = || -> Result<u32, CniVersionError> {
            let digits = parts.next().ok_or_else(bad)?;
            let end = digits
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(digits.len());
            if end == 0 {
                return Err(bad());
            }
            digits[..end].parse().map_err(|_| bad())
        };
        let major = number()?;
        let minor = number()?;
        Ok(CniVersion { major, minor })
    }
}

impl CniVersion {
    /// Prefix delegation arrived in VPC CNI 1.9.0.
    pub fn supports_prefix_delegation(self) -> bool {
        self >= CniVersion { major: 1, minor: 9 }
    }
}

impl CalculatorFlags {
    /// The sizing options the calculator's flags stand for.
    pub fn options(&self) -> SizingOptions {
        SizingOptions {
            prefix_delegation: self.prefix_delegation
                && self.cni_version.supports_prefix_delegation(),
            custom_networking: self.custom_networking,
            max_enis: self.max_enis,
            max_pods_cap: Some(if self.show_max_allowed {
                CapPolicy::None
            } else {
                CapPolicy::Eks
            }),
            ..SizingOptions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(text: &str) -> Result<(u32, u32), CniVersionError> {
        text.parse::<CniVersion>().map(|v| (v.major, v.minor))
    }

    #[test]
    fn cni_versions() {
        assert_eq!(version("1.11.4"), Ok((1, 11)));
        assert_eq!(version("v1.11.2"), Ok((1, 11)));
        assert_eq!(version("1.11.4-eksbuild.1"), Ok((1, 11)));
        assert_eq!(version("1.9"), Ok((1, 9)));
        assert_eq!(version("2.0.0"), Ok((2, 0)));
        for bad in ["", "1", "x.y", "1.x", "latest", "-1.9"] {
            assert!(version(bad).is_err(), "{bad}");
        }
        let supports = |major, minor| CniVersion { major, minor }.supports_prefix_delegation();
        assert!(!supports(1, 8));
        assert!(supports(1, 9));
        assert!(supports(2, 0));
        assert!(!supports(0, 11));
    }
}
