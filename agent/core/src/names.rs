//! The names nodecap passes between its layers, each a type that can only hold a valid value
//! (Bottlerocket's modeled types): made with `TryFrom`/[`FromStr`], shown with [`Display`],
//! read as `&str` through [`Deref`]. A bad value is refused where it enters (the command line,
//! the configuration, an AWS answer) with what was expected, so nothing past that point checks
//! a string again.
//!
//! [`Deref`]: std::ops::Deref

use std::borrow::Cow;
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
        pub struct $name(Cow<'static, str>);

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
                    Ok($name(Cow::Owned(value)))
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

        /// Eq, Ord and Hash agree with `str`'s, so maps keyed by the name look up by `&str`.
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
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

        /// Read back (a cache file, a saved document) only when valid.
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = String::deserialize(deserializer)?;
                $name::try_from(value).map_err(serde::de::Error::custom)
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
    /// An EC2 instance type such as `m5.large`: `family.size`, lowercase letters, digits and
    /// dashes on both sides of one dot, at most [`MAX_INSTANCE_TYPE_LEN`] bytes.
    InstanceType,
    "an instance type such as m5.large",
    is_instance_type
);

impl InstanceType {
    /// The name sizing shows for limits given by hand without a type (`plan --enis …`).
    pub const CUSTOM: InstanceType = InstanceType(Cow::Borrowed("custom"));

    /// A name from the generated table, which a test checks with [`is_instance_type`].
    pub(crate) const fn from_table(name: &'static str) -> Self {
        InstanceType(Cow::Borrowed(name))
    }

    /// The type's family: what precedes the first '.' (`m5` of `m5.large`).
    pub fn family(&self) -> &str {
        self.0.split_once('.').map_or(&self.0, |(family, _)| family)
    }
}

/// The longest instance type name accepted. The longest AWS has used is 20 characters
/// (`u7inh-32tb.480xlarge`); twice that leaves room for new ones and none for garbage.
const MAX_INSTANCE_TYPE_LEN: usize = 40;

/// `family.size`: lowercase letters, digits and dashes on both sides of one dot, at most
/// [`MAX_INSTANCE_TYPE_LEN`] bytes.
pub fn is_instance_type(name: &str) -> bool {
    if name.len() > MAX_INSTANCE_TYPE_LEN {
        return false;
    }
    let part = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    name.split_once('.')
        .is_some_and(|(family, size)| part(family) && part(size))
}

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

impl NodeName {
    /// The name of a node that has none yet (no configured name, no IMDS, no host name).
    pub const UNKNOWN: NodeName = NodeName(Cow::Borrowed("unknown"));
}

name!(
    /// A CloudWatch dimension value, such as the `ClusterName`/`CLUSTER_ID` nodecap publishes
    /// (any cluster's name, EKS or not): 1 to 255 printable characters (PutMetricData's rule).
    DimensionValue,
    "1 to 255 printable characters",
    is_dimension_value
);

/// Every EKS cluster name is a dimension value.
impl From<&ClusterName> for DimensionValue {
    fn from(name: &ClusterName) -> Self {
        DimensionValue(name.0.clone())
    }
}

/// Whether `value` is a CloudWatch dimension value: 1 to 255 printable characters
/// (PutMetricData's rule).
fn is_dimension_value(value: &str) -> bool {
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
    fn instance_type_names() {
        for ok in [
            "m5.large",
            "u-6tb1.metal",
            "m7i.metal-48xl",
            "p5en.48xlarge",
        ] {
            assert!(is_instance_type(ok), "{ok}");
        }
        let huge = format!("m5.{}", "x".repeat(10_000));
        for bad in [
            "",
            "m5",
            "m5.",
            ".large",
            "M5.large",
            "m5.large\n",
            "m5 .large",
            "a.b.c",
            &huge,
        ] {
            assert!(!is_instance_type(bad), "{bad:?}");
            assert!(InstanceType::try_from(bad).is_err(), "{bad:?}");
        }
        assert!(is_instance_type(&format!("u7inh-32tb.{}", "x".repeat(29))));
        assert_eq!(
            InstanceType::try_from("m7i.metal-48xl").unwrap().family(),
            "m7i"
        );
    }

    #[test]
    fn names_read_back_only_when_valid() {
        let name: InstanceType = serde_json::from_str("\"m5.large\"").unwrap();
        assert_eq!(serde_json::to_string(&name).unwrap(), "\"m5.large\"");
        let error = serde_json::from_str::<Region>("\"US EAST\"").unwrap_err();
        assert!(
            error.to_string().contains("a region such as us-east-1"),
            "{error}"
        );
    }

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
