//! How traffic tables and match routes read in logs: one line each.

use std::fmt;

use crate::traffic::{MatchCondition, MatchRoute, Mirror, TrafficTable};

/// Keys of a `KeyIn` route shown before the rest are counted: a log line stays short.
const KEYS_SHOWN: usize = 3;

impl fmt::Display for TrafficTable {
    /// `generation 4: v1 90% (9 instances), v2 10% (1 instance); header x-canary = "1"
    /// -> v2; mirror 5% -> v2`. An empty table reads `generation 0: no revisions`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "generation {}: ", self.generation())?;
        if self.backends().is_empty() {
            f.write_str("no revisions")?;
        }
        for (i, backend) in self.backends().iter().enumerate() {
            let count = backend.instance_count();
            let plural = if count == 1 { "" } else { "s" };
            let separator = if i == 0 { "" } else { ", " };
            write!(
                f,
                "{separator}{} {} ({count} instance{plural})",
                backend.revision(),
                backend.weight()
            )?;
        }
        for route in self.routes() {
            write!(f, "; {route}")?;
        }
        if let Some(mirror) = self.mirror() {
            write!(f, "; {mirror}")?;
        }
        Ok(())
    }
}

impl fmt::Display for MatchRoute {
    /// `header x-canary = "1" -> v2`, `cookie beta = "yes" -> v2`,
    /// `key in {"alice", "bob", "carol", 2 more} -> v2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.condition, self.revision)
    }
}

impl fmt::Display for MatchCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MatchCondition::HeaderEquals { name, value } => write!(f, "header {name} = {value:?}"),
            MatchCondition::HeaderPrefix { name, prefix } => {
                write!(f, "header {name} starts with {prefix:?}")
            }
            MatchCondition::CookieEquals { name, value } => write!(f, "cookie {name} = {value:?}"),
            MatchCondition::KeyIn { keys } => {
                f.write_str("key in {")?;
                for (i, key) in keys.iter().take(KEYS_SHOWN).enumerate() {
                    let separator = if i == 0 { "" } else { ", " };
                    write!(f, "{separator}{key:?}")?;
                }
                if keys.len() > KEYS_SHOWN {
                    write!(f, ", {} more", keys.len() - KEYS_SHOWN)?;
                }
                f.write_str("}")
            }
        }
    }
}

impl fmt::Display for Mirror {
    /// `mirror 5% -> v2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mirror {} -> {}", self.share, self.revision)
    }
}
