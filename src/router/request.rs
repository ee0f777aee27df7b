//! What the router reads from a request, and the match routes compiled to read it
//! without allocating.

use crate::traffic::{MatchCondition, MatchRoute};

/// What the router may look at in one request: borrowed, so building one costs nothing.
///
/// A request with a [`key`](Request::key) is routed *sticky*: the same key goes to the
/// same revision and instance for the same table, and no randomness is used. Without a
/// key it is routed at random with the caller's RNG.
///
/// # Examples
///
/// ```
/// use cutover::router::Request;
///
/// let headers = [("X-Canary", "always")];
/// let request = Request::new().with_headers(&headers).with_key("user-42");
/// assert_eq!(request.key, Some(&b"user-42"[..]));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Request<'a> {
    /// Header names and values; names are compared without regard to ASCII case, and a
    /// route matches if any header of its name satisfies it.
    pub headers: &'a [(&'a str, &'a str)],
    /// Cookie names and values, compared exactly.
    pub cookies: &'a [(&'a str, &'a str)],
    /// The sticky key (a user id, a session id, a cookie's bytes), if any.
    pub key: Option<&'a [u8]>,
}

impl<'a> Request<'a> {
    /// A request that carries nothing: routed at random by the split.
    #[must_use]
    pub const fn new() -> Self {
        Request {
            headers: &[],
            cookies: &[],
            key: None,
        }
    }

    /// Routes the request sticky by `key` (anything that is bytes: `&str`, `&[u8]`, ...).
    #[must_use]
    pub fn with_key<K: AsRef<[u8]> + ?Sized>(mut self, key: &'a K) -> Self {
        self.key = Some(key.as_ref());
        self
    }

    /// Gives the request these headers, for header match routes.
    #[must_use]
    pub const fn with_headers(mut self, headers: &'a [(&'a str, &'a str)]) -> Self {
        self.headers = headers;
        self
    }

    /// Gives the request these cookies, for cookie match routes.
    #[must_use]
    pub const fn with_cookies(mut self, cookies: &'a [(&'a str, &'a str)]) -> Self {
        self.cookies = cookies;
        self
    }
}

/// A match route ready to test: names and values as owned slices, keys hashed.
#[derive(Clone, Debug)]
pub(super) struct Route {
    condition: Condition,
    /// The pool (revision index in layout order) it sends requests to.
    pub(super) pool: u32,
}

#[derive(Clone, Debug)]
enum Condition {
    HeaderEquals { name: Box<str>, value: Box<str> },
    HeaderPrefix { name: Box<str>, prefix: Box<str> },
    CookieEquals { name: Box<str>, value: Box<str> },
    KeyIn(KeySet),
}

impl Route {
    /// Compiles `route`, sending to `pool`. Header names are already lower-case (the
    /// table normalizes them), so matching only needs a case-insensitive compare on the
    /// request's side.
    pub(super) fn new(route: &MatchRoute, pool: u32, hash: fn(&[u8]) -> u64) -> Route {
        let condition = match &route.condition {
            MatchCondition::HeaderEquals { name, value } => Condition::HeaderEquals {
                name: name.as_str().into(),
                value: value.as_str().into(),
            },
            MatchCondition::HeaderPrefix { name, prefix } => Condition::HeaderPrefix {
                name: name.as_str().into(),
                prefix: prefix.as_str().into(),
            },
            MatchCondition::CookieEquals { name, value } => Condition::CookieEquals {
                name: name.as_str().into(),
                value: value.as_str().into(),
            },
            MatchCondition::KeyIn { keys } => {
                Condition::KeyIn(KeySet::new(keys.iter().map(String::as_bytes), hash))
            }
        };
        Route { condition, pool }
    }

    /// Whether this route only looks at the key (so a request with nothing but a key may
    /// match it).
    pub(super) fn is_keyed(&self) -> bool {
        matches!(self.condition, Condition::KeyIn(_))
    }

    /// Whether `request`, whose key (if any) hashes to `key_hash`, meets the condition.
    pub(super) fn matches(&self, request: &Request<'_>, key_hash: u64) -> bool {
        match &self.condition {
            Condition::HeaderEquals { name, value } => request
                .headers
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case(name) && *v == &**value),
            Condition::HeaderPrefix { name, prefix } => request
                .headers
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case(name) && v.starts_with(&**prefix)),
            Condition::CookieEquals { name, value } => request
                .cookies
                .iter()
                .any(|(n, v)| *n == &**name && *v == &**value),
            Condition::KeyIn(keys) => request.key.is_some_and(|key| keys.contains(key, key_hash)),
        }
    }
}

/// An allow-list of keys, sorted by their sticky hash: the hash the router computes for a
/// keyed request anyway finds a candidate by binary search, and only then are bytes
/// compared.
#[derive(Clone, Debug)]
struct KeySet {
    entries: Box<[(u64, Box<[u8]>)]>,
}

impl KeySet {
    fn new<'a>(keys: impl Iterator<Item = &'a [u8]>, hash: fn(&[u8]) -> u64) -> KeySet {
        let mut entries: Vec<(u64, Box<[u8]>)> = keys.map(|k| (hash(k), k.into())).collect();
        entries.sort_unstable();
        KeySet {
            entries: entries.into(),
        }
    }

    fn contains(&self, key: &[u8], hash: u64) -> bool {
        let start = self.entries.partition_point(|(h, _)| *h < hash);
        self.entries
            .get(start..)
            .unwrap_or_default()
            .iter()
            .take_while(|(h, _)| *h == hash)
            .any(|(_, k)| **k == *key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(condition: MatchCondition) -> Route {
        let route = MatchRoute::new(condition.normalized().unwrap(), "v2");
        Route::new(&route, 1, |k| k.len() as u64)
    }

    #[test]
    fn header_names_ignore_ascii_case_and_values_do_not() {
        let route = compile(MatchCondition::header_equals("X-Canary", "Yes"));
        let hit = [("x-other", "1"), ("x-CANARY", "Yes")];
        let miss = [("x-canary", "yes")];
        assert!(route.matches(&Request::new().with_headers(&hit), 0));
        assert!(!route.matches(&Request::new().with_headers(&miss), 0));
        assert!(!route.matches(&Request::new(), 0));
    }

    #[test]
    fn prefixes_and_cookies() {
        let prefix = compile(MatchCondition::header_prefix("user-agent", "Mobile"));
        let agent = [("User-Agent", "Mobile Safari")];
        assert!(prefix.matches(&Request::new().with_headers(&agent), 0));
        let cookie = compile(MatchCondition::cookie_equals("Beta", "1"));
        let jar = [("beta", "1"), ("Beta", "1")];
        assert!(cookie.matches(&Request::new().with_cookies(&jar), 0));
        assert!(!cookie.matches(&Request::new().with_cookies(&jar[..1]), 0));
        assert!(!cookie.is_keyed());
    }

    #[test]
    fn key_lists_compare_bytes_after_the_hash() {
        // The test hash is the length, so "bob" and "eve" collide.
        let route = compile(MatchCondition::key_in(["alice", "bob"]));
        assert!(route.is_keyed());
        let keyed = |key: &'static str| Request::new().with_key(key);
        assert!(route.matches(&keyed("bob"), 3));
        assert!(!route.matches(&keyed("eve"), 3));
        assert!(route.matches(&keyed("alice"), 5));
        assert!(!route.matches(&Request::new(), 3));
    }
}
