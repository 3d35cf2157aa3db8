//! Table tests: each conversion accepts what XDS.md lists and rejects, naming the field, what the
//! proxy does not implement.

mod cluster;
mod endpoint;
pub(crate) mod fixtures;
mod gateway;
mod listener;
mod policy;
mod public_tls;
mod route;
mod tls;
mod traffic;

use std::fmt::Debug;

use crate::error::ConfigError;

/// A mutation of a valid resource and the text its error must contain.
pub(crate) type Case<X> = (&'static str, fn(&mut X), &'static str);

/// Applies every case to a fresh valid resource and checks the conversion fails as described.
pub(crate) fn assert_rejects<X, T>(valid: fn() -> X, cases: &[Case<X>])
where
    X: Clone,
    T: TryFrom<X, Error = ConfigError> + Debug,
{
    assert!(
        T::try_from(valid()).is_ok(),
        "the base resource must be valid"
    );
    for (what, mutate, expected) in cases {
        let mut x = valid();
        mutate(&mut x);
        match T::try_from(x) {
            Ok(t) => panic!("{what}: accepted as {t:?}"),
            Err(e) => assert!(
                e.to_string().contains(expected),
                "{what}: error {:?} does not contain {expected:?}",
                e.to_string()
            ),
        }
    }
}
