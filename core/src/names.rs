//! Device names: a bounded idstr. A leaf: the error type and the device
//! tables both use it.

use crate::capacity::MAX_NAME_LEN;

/// A device idstr, bounded by [`crate::capacity::MAX_NAME_LEN`].
pub type Name = heapless::String<MAX_NAME_LEN>;
