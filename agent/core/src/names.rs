//! The names nodecap passes between its layers, each a type that can only hold a valid value
//! (Bottlerocket's modeled types): made with `TryFrom`/[`FromStr`], shown with [`Display`],
//! read as `&str` through [`Deref`]. A bad value is refused where it enters (the command line,
//! the configuration, an AWS answer) with what was expected, so nothing past that point checks
//! a string again.
//!
//! [`Deref`]: std::ops::Deref

use std::fmt;
use std::str::FromStr;

use crate::excerpt::{MAX_CHARS, clip};

/// A value that is not the name it should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected}, got {got:?}")]
pub struct InvalidName {
    /// What the value should be, such as "a VPC id such as vpc-0123456789abcdef0".
    pub expected: &'static str,
    /// The value, clipped to [`MAX_CHARS`].
    pub got: String,
}

macro_rules! name {
    ($(#[$doc:meta])* $name:ident, $expected:literal, $valid:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// What a valid value looks like, for error messages.
            pub const EXPECTED: &'static str = $expected;

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidName;
            fn try_from(value: String) -> Result<Self, InvalidName> {
                let valid: fn(&str) -> bool = $valid;
                if valid(&value) {
                    Ok($name(value))
                } else {
                    Err(InvalidName {
                        expected: $expected,
                        got: clip(&value, MAX_CHARS),
                    })
                }
            }
        }

        impl TryFrom<&str> for $name {
            type Error = InvalidName;
            fn try_from(value: &str) -> Result<Self, InvalidName> {
                $name::try_from(value.to_owned())
            }
        }

        impl FromStr for $name {
            type Err = InvalidName;
            fn from_str(value: &str) -> Result<Self, InvalidName> {
                $name::try_from(value)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

name!(
    /// An EKS cluster name: 1 to 100 letters, digits, '-' and '_', starting with a letter or
    /// digit (EKS's own rule, `CreateCluster`'s `name`).
    ClusterName,
    "an EKS cluster name (1 to 100 letters, digits, '-' and '_')",
    |name| {
        name.len() <= 100
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }
);

name!(
    /// An AWS region name such as `us-east-1`: lowercase letters, digits and dashes, at most
    /// 32.
    Region,
    "a region such as us-east-1",
    |region| {
        !region.is_empty()
            && region.len() <= 32
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    }
);

name!(
    /// A VPC id: `vpc-` and 1 to 24 lowercase hex digits (EC2 ids are 8 or 17 today).
    VpcId,
    "a VPC id such as vpc-0123456789abcdef0",
    |id| is_resource_id("vpc-", id)
);

name!(
    /// A subnet id: `subnet-` and 1 to 24 lowercase hex digits.
    SubnetId,
    "subnet ids such as subnet-0123456789abcdef0",
    |id| is_resource_id("subnet-", id)
);

name!(
    /// A node's name as CloudWatch's `NodeName` dimension carries it: 1 to 255 printable
    /// characters (PutMetricData's rule for a dimension value).
    NodeName,
    "1 to 255 printable characters",
    is_dimension_value
);

/// Whether `value` is a CloudWatch dimension value: 1 to 255 printable characters
/// (PutMetricData's rule).
pub fn is_dimension_value(value: &str) -> bool {
    !value.is_empty() && value.len() <= 255 && !value.chars().any(char::is_control)
}

/// Whether `value` is `prefix` followed by 1 to 24 lowercase hex digits: the shape of every
/// EC2 resource id (`vpc-0a1b…`, `subnet-…`, `eni-…`, `i-…`).
pub fn is_resource_id(prefix: &str, value: &str) -> bool {
    value.strip_prefix(prefix).is_some_and(|hex| {
        (1..=24).contains(&hex.len())
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_name_takes_only_its_shape() {
        assert!(ClusterName::try_from("prod-1_a").is_ok());
        for bad in ["", "-bad", "has space", &"a".repeat(101)] {
            assert!(ClusterName::try_from(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Region::try_from("eu-west-1").unwrap(), "eu-west-1");
        assert!(Region::try_from("EU-WEST-1").is_err());
        assert!(VpcId::try_from("vpc-0a").is_ok());
        assert!(VpcId::try_from("subnet-0a").is_err());
        assert!(SubnetId::try_from("subnet-0123456789abcdef0").is_ok());
        assert!(SubnetId::try_from("subnet-XYZ").is_err());
        assert!(NodeName::try_from("ip-10-0-1-10.ec2.internal").is_ok());
        assert!(NodeName::try_from("a\tb").is_err());
        let error = VpcId::try_from("x".repeat(10_000)).unwrap_err();
        assert!(error.to_string().len() < 200, "{error}");
        assert_eq!(error.expected, VpcId::EXPECTED);
    }
}
