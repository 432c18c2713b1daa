//! Conformance cases for issue #15 (shared-cache completeness): see the parent module for the
//! table's vocabulary.

use super::*;

pub(super) fn cases() -> Vec<Case> {
    vec![]
}
