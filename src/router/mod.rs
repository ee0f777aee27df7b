//! The weighted router core: a [`TrafficTable`] compiled into a structure that picks a
//! revision and an instance per request in O(1).
//!
//! A request goes through three steps: the match routes in order (the first that matches
//! chooses the revision), else the weighted split between revisions, then an instance
//! within the chosen revision. Each step is either *random* (a request without a key,
//! using the caller's RNG) or *sticky* (a keyed request, using only the key's hash).

mod alias;
mod apply;
mod pool;
mod race;
mod request;
mod ring;
mod split;

use std::sync::Arc;

use rand::Rng;

pub use request::Request;

use crate::model::{InstanceId, Revision};
use crate::traffic::{Backend, TrafficTable};
#[cfg(doc)]
use crate::traffic::{TableChange, TableDiff};
use pool::Pool;
use request::Route;
use split::{Split, cut, instance_point, key_hash, mirror_point};

/// Where one request goes, borrowed from the [`Router`] that decided it.
///
/// Two words, so that `Option<Decision>` comes back in registers: the routing itself
/// costs little more than reading it out.
#[derive(Clone, Copy)]
pub struct Decision<'r> {
    target: &'r Target,
    /// Bit 31: mirrored. Bits 0..31: the matched route's index + 1, or 0 for the split.
    flags: u32,
}

const MIRRORED: u32 = 1 << 31;

impl<'r> Decision<'r> {
    #[inline(always)]
    fn new(target: &'r Target, mirrored: bool, matched_route: Option<usize>) -> Self {
        let route = matched_route.map_or(0, |i| {
            u32::try_from(i + 1)
                .unwrap_or(MIRRORED - 1)
                .min(MIRRORED - 1)
        });
        Decision {
            target,
            flags: route | if mirrored { MIRRORED } else { 0 },
        }
    }

    /// The revision that serves the request.
    #[must_use]
    #[inline]
    pub fn revision(&self) -> &'r Revision {
        &self.target.revision
    }

    /// The instance that serves it: always one in rotation under [`revision`](Self::revision).
    #[must_use]
    #[inline]
    pub fn instance(&self) -> &'r InstanceId {
        &self.target.instance
    }

    /// Where to send a copy of the request, if it was picked for mirroring (reported
    /// whenever it is picked, even if the mirror revision also serves the request).
    #[must_use]
    #[inline]
    pub fn mirror(&self) -> Option<&'r Revision> {
        if self.flags & MIRRORED == 0 {
            None
        } else {
            self.target.mirror.as_deref()
        }
    }

    /// The index (in [`TrafficTable::routes`]) of the match route that chose the
    /// revision, or `None` if the weighted split did.
    #[must_use]
    #[inline]
    pub fn matched_route(&self) -> Option<usize> {
        match self.flags & !MIRRORED {
            0 => None,
            n => Some(n as usize - 1),
        }
    }
}

impl PartialEq for Decision<'_> {
    fn eq(&self, other: &Self) -> bool {
        (
            self.revision(),
            self.instance(),
            self.mirror(),
            self.matched_route(),
        ) == (
            other.revision(),
            other.instance(),
            other.mirror(),
            other.matched_route(),
        )
    }
}

impl Eq for Decision<'_> {}

impl std::fmt::Debug for Decision<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decision")
            .field("revision", self.revision())
            .field("instance", self.instance())
            .field("mirror", &self.mirror())
            .field("matched_route", &self.matched_route())
            .finish()
    }
}

/// A [`TrafficTable`] compiled for routing: picks a revision and an instance per
/// request in O(1), random or sticky.
///
/// # Random and sticky routing
///
/// A request without a key is routed at random with the caller's RNG: one 64-bit draw
/// decides the revision (its high half) and the instance (its low half), and a mirrored
/// table takes one more 32-bit draw for the mirror. Revisions are chosen in proportion to
/// their weights and instances in proportion to theirs, each probability within a few
/// parts in 2³² of exact.
///
/// A request with a key uses no randomness at all. With `h = xxh3_64(key)`:
///
/// * **Revision.** The key falls in slot `((h >> 32) × 10_000) >> 32` of `[0, 10_000)`;
///   the revisions with weight > 0 own consecutive runs of slots, in the table's layout
///   order ([`TrafficTable::backends`]), each as many slots as it has basis points. So
///   the same key gets the same revision for the same table, on every machine and in
///   every release, and moving weight between two revisions that are *adjacent* in
///   layout order (revisions of weight 0 between them do not count) only moves keys from
///   the one that shrinks into the one that grows. With two revisions every change is of
///   this kind: while a canary's share only grows, no key ever flaps back to stable.
/// * **Instance.** A weighted consistent-hash ring over the revision's instances, indexed
///   by the low 32 bits of `h`. Every instance puts 64 points on the ring whatever its
///   weight, and a key goes to the point `p` with the smallest `d(p, key) / weight`, `d`
///   the distance round the ring *in either direction* (equal weights: simply the nearest
///   point; equal scores go to the smaller id). Which instance owns a key therefore
///   depends only on the *set* of instances and their weights, so taking an instance out
///   of rotation moves only the keys it held, putting one in moves keys only onto it, and
///   changing one's weight moves keys only onto or off it, for any weights in 1..=256:
///   about 1/N of the keys for N equal instances. A point owns half of each gap beside
///   it, so shares follow the weights to within about ±9% (one standard deviation: see
///   *Cost*) with half the points a "next point clockwise" ring needs.
/// * **Mirror.** A key is mirrored when a fixed remix of `h` falls in the mirror's share
///   (independently of its revision and instance), so a key is either always or never
///   mirrored, and growing the share only adds keys.
///
/// # When a key can move: the monotonicity theorem
///
/// For a fixed key, between two tables with the same instances in rotation:
///
/// 1. **Two live revisions.** Raising one's share only moves keys into it (from the
///    other); lowering it only moves keys out of it. No key ever moves the other way, so
///    while a canary's share only grows, no key flaps back to stable.
/// 2. **More revisions.** Moving basis points between two revisions that are *adjacent*
///    in layout order ([`TrafficTable::backends`]; revisions of weight 0 between them do
///    not count) only moves keys between those two; every other revision keeps exactly
///    its keys. A transfer between revisions that are not adjacent also shifts the
///    revisions in between, and moves their keys.
/// 3. **Weight 0.** A revision with weight 0 holds no keys of the split (a match route
///    may still choose it).
///
/// And within a revision (instance choice), between two tables with the same split:
/// only the keys of an instance that joins, leaves or changes weight move, onto or off
/// it. A key keeps its revision *and* its instance unless one of these clauses moves it.
///
/// **The layout rule** a caller must keep for clause 2 to give a canary monotone sticky
/// routing: the target sits next to stable in layout order, and a superseded target's
/// weight is returned to stable (set to 0) *before* a new target gets any. With plain
/// append order (stable, superseded, new) a new canary growing while the superseded one
/// keeps weight is not adjacent to stable, so the transfer shifts the superseded
/// revision's run of slots and pulls some of stable's keys into it. Use [`TableChange::ReorderRevisions`] to put the
/// new target next to stable.
///
/// # Match routes
///
/// Routes are checked in table order before the split; the first that matches picks the
/// revision (whatever its weight), and the instance is then chosen as above.
///
/// # Updates
///
/// [`Router::apply`] takes the [`TableDiff`] a publisher sends and updates the router
/// in place, at a cost that follows the change (a weight step rebuilds no instance
/// structure; one instance joining, leaving or changing weight rewrites only the ring
/// arcs within its reach; a ring not built yet stays unbuilt). The result routes exactly
/// as `Router::new` of the new table.
/// A diff from another generation is refused with [`TrafficError::StaleDiff`](crate::TrafficError::StaleDiff)
/// and changes nothing: rebuild from a fresh table.
///
/// # Cost
///
/// Measured with `cargo test --release --all-features -- --ignored spread_and_memory`:
///
/// | equal-weight instances | keys | sticky share, one standard deviation |
/// |---|---|---|
/// | 10 | 2²⁰ | ±8.5% |
/// | 100 | 2²⁰ | ±8.3% |
/// | 1,000 | 2²² | ±8.6% |
///
/// (Key sampling alone contributes 0.3%, 1% and 1.6%.) With its sticky rings built, a
/// router holds about 2.7 KB per instance at 1,000 instances and 3.6 KB at 10,000 (its
/// rings, alias tables and targets, besides its copy of the table; names are shared, not
/// copied), whatever the instance weights: the ring has 64 points per instance and about
/// as many cuts, in arcs with room for a quarter more, and about two 8-byte buckets per
/// point.
///
/// **Building.** [`Router::new`] builds what random routing needs: O(instances), about
/// 0.1 ms at 1,000 instances (30 times rand_distr's alias build of the same weights in
/// the same run). The sticky ring of a revision (64 points per instance) is built the
/// first time a sticky pick needs it, or for every revision at once by
/// [`Router::prepare_sticky`]: 2.1–2.8 ms at 1,000 equal-weight instances on the (shared)
/// machine the benchmarks ran on, 560–650 times the alias build in the same run
/// (`cargo bench --bench router -- compile`), so a proxy serving sticky traffic calls
/// `prepare_sticky` before it puts the router into service. Each instance's points are
/// made twice (counted into bins by the top bits of their places, then placed) rather
/// than listed, and put in order by one branchless pass over neighbours and an
/// insertion sort; with equal weights the entries then go straight into their arcs in
/// one pass, and every bucket's answer comes from one more. The cost is one of size,
/// not of method: a ring needs about 64 random points per instance for the ±9% spread
/// above (the spread is about 1/√(2 × points), whatever the method, as long as an
/// instance's points depend on its id alone, which is what keeps keys from moving
/// between other instances). Merely making the 64,000 points and putting each in its bin
/// of places, not yet ordered within it, takes 115–140 times the alias build in the
/// same run (`floor/points_binned/1000`; 155–185 times ordered, as the ring orders
/// them: `floor/points_sorted/1000`), copying the table 16–19 times
/// (`floor/table_clone/1000`), and writing the rings' bytes once, in order, about 30
/// times (`floor/ring_bytes/1000`).
///
/// **Updating.** With the rings built, [`Router::apply`] of one instance joining or
/// leaving 1,000 equal-weight instances takes 20–40 µs (about 5–9x the alias build in
/// the same run): each of its points changes only the gap between its two neighbours.
/// One instance going from weight 1 to 2 takes 42–75 µs (12–17x): a point reaches into a
/// gap beside it only if the gap is at least twice as wide as its distance from the
/// point, and ruling that out takes a walk out to half the ring's widest gap on both
/// sides. Where every other instance weighs the same (re-weighting one instance of an
/// even pool), each window's cuts then come straight from the two distances (the
/// instance's and the nearest other place's); otherwise the races of the window's points
/// settle it. Only the buckets whose answers an edit can change are filled again. An
/// edit first reads the lines it will use (its points' regions and buckets) in one loop
/// of independent loads, so that on a router out of cache (just cloned, or idle while
/// other work ran) their misses overlap instead of each waiting behind the last.
///
/// # Examples
///
/// ```
/// use cutover::{Router, TrafficTable};
/// use cutover::router::Request;
/// use cutover::traffic::MatchCondition;
/// use rand::SeedableRng;
/// use rand::rngs::Xoshiro256PlusPlus;
///
/// let table = TrafficTable::builder()
///     .revision("v1", 9_000, ["web-1", "web-2"])
///     .revision("v2", 1_000, ["web-3"])
///     .route(MatchCondition::header_equals("x-canary", "always"), "v2")
///     .build()
///     .unwrap();
/// let mut router = Router::new(&table);
/// // Build the sticky rings now rather than on the first keyed request.
/// router.prepare_sticky();
/// let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
///
/// // Random: about 90% to v1.
/// let decision = router.route_random(&mut rng).unwrap();
/// assert!(table.backend(decision.revision()).unwrap().contains(decision.instance()));
///
/// // Sticky: the same user always lands on the same instance.
/// let first = router.route_sticky(b"user-42").unwrap();
/// assert_eq!(router.route_sticky(b"user-42"), Some(first));
///
/// // Match routes come first.
/// let headers = [("X-Canary", "always")];
/// let request = Request::new().with_headers(&headers);
/// let decision = router.route(&request, &mut rng).unwrap();
/// assert_eq!(decision.revision().as_str(), "v2");
/// assert_eq!(decision.matched_route(), Some(0));
///
/// // Nothing to route to.
/// assert_eq!(Router::new(&TrafficTable::empty()).route_sticky(b"k"), None);
/// ```
#[derive(Clone, Debug)]
pub struct Router {
    /// The table routed, kept so that [`Router::apply`] can check a diff against it.
    table: TrafficTable,
    /// Whether the random path may use `lanes`: at most two live revisions, each with
    /// equal instance weights, and no mirror (the common canary shape).
    fast: bool,
    /// For the fast path: `start << 32 | count` of the first two pools' instances.
    lanes: [u64; 2],
    split: Split,
    /// Every pool's instances, pool after pool, each pool's in id order, each beside its
    /// revision so that one index gives both halves of a decision.
    targets: Vec<Target>,
    /// One per revision: first the live ones (weight > 0) in layout order, then the
    /// others in layout order, so that the split's answer is directly a pool index.
    pools: Vec<Pool>,
    routes: Box<[Route]>,
    /// Whether some route looks at the key, so a keyed request must check routes even
    /// when it carries nothing else.
    keyed_routes: bool,
    mirror: Option<MirrorCut>,
    /// Whether [`Router::prepare_sticky`] was called: [`Router::apply`] then keeps every
    /// pool's ring built.
    prepared: bool,
}

/// An instance and the revision it serves (the pool's name, shared: a decision then
/// needs one address, not two, and a build copies one string per instance, not three),
/// and the table's mirror (shared for the same reason).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Target {
    instance: InstanceId,
    revision: Arc<Revision>,
    mirror: Option<Arc<Revision>>,
}

#[derive(Clone, Debug)]
struct MirrorCut {
    /// 32-bit values below this are mirrored.
    cut: u64,
}

/// The instance index for "nothing to route to": one no router has.
const NOWHERE: usize = usize::MAX;

impl Router {
    /// Compiles `table` (a copy of it is kept, for [`Router::apply`]). Costs
    /// O(instances): the sticky rings (64 points per instance whatever its weight,
    /// about 2.7 KB per instance) are built on the first sticky pick that needs one, or
    /// all at once by [`Router::prepare_sticky`] (see [`Router`]'s section on cost).
    /// Routing then costs O(1).
    #[must_use]
    pub fn new(table: &TrafficTable) -> Router {
        Router::from_table(table.clone())
    }

    /// Compiles `table`, keeping it (no copy): the same router as [`Router::new`].
    #[must_use]
    pub fn from_table(table: TrafficTable) -> Router {
        let mirror = effective_mirror(&table).cloned().map(Arc::new);
        let mut targets = Vec::with_capacity(table.instance_count());
        let (live, idle): (Vec<&Backend>, Vec<&Backend>) =
            table.backends().iter().partition(|b| !b.weight().is_zero());
        let pools: Vec<Pool> = live
            .iter()
            .chain(&idle)
            .map(|b| Pool::new(b, mirror.as_ref(), &mut targets))
            .collect();
        let mut router = Router {
            table,
            fast: false,
            lanes: [0; 2],
            split: Split::new(&[]),
            targets,
            pools,
            routes: Box::default(),
            keyed_routes: false,
            mirror: None,
            prepared: false,
        };
        router.link();
        router
    }

    /// Builds the keyed (sticky) instance structure of every revision now, instead of on
    /// the first sticky pick that needs it, and keeps it built through
    /// [`Router::apply`]. Costs O(instances × 64); see [`Router`]'s section on cost.
    ///
    /// A proxy that serves sticky traffic calls this before it puts the router into
    /// service (for example on the thread that compiled it), so that no request pays for
    /// the build. Routing is the same either way.
    pub fn prepare_sticky(&mut self) {
        self.prepared = true;
        for pool in &self.pools {
            pool.ring(&self.targets);
        }
    }

    /// Recomputes everything derived from the pools and the table's weights, routes and
    /// mirror: O(revisions + routes), nothing per instance.
    fn link(&mut self) {
        let table = &self.table;
        let live = table
            .backends()
            .iter()
            .filter(|b| !b.weight().is_zero())
            .count();
        let weights: Vec<u16> = table
            .backends()
            .iter()
            .filter(|b| !b.weight().is_zero())
            .map(|b| b.weight().basis_points())
            .collect();
        let pools = &self.pools;
        let pool_of = |revision: &Revision| pools.iter().position(|p| &p.revision == revision);
        // A valid table names only revisions it has; skipping a stray one keeps compile
        // infallible anyway.
        self.routes = table
            .routes()
            .iter()
            .filter_map(|route| {
                let pool = pool_of(&route.revision)?;
                Some(Route::new(route, pool as u32, key_hash))
            })
            .collect();
        self.keyed_routes = self.routes.iter().any(Route::is_keyed);
        self.mirror = effective_mirror(table)
            .and(table.mirror())
            .map(|m| MirrorCut {
                cut: cut(u64::from(m.share.basis_points())),
            });
        let lane = |k: usize| {
            pools
                .get(k.min(live.saturating_sub(1)))
                .map_or(0, |p| ((p.start as u64) << 32) | p.count as u64)
        };
        self.lanes = [lane(0), lane(1)];
        self.fast = live <= 2
            && self.mirror.is_none()
            && pools
                .get(..live)
                .is_some_and(|l| l.iter().all(|p| p.picker.is_uniform()));
        self.split = Split::new(&weights);
    }

    /// About how many bytes the router holds on the heap besides its copy of the table
    /// (rings, alias tables, targets; not the strings' own bytes), for capacity planning.
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.pools.iter().map(Pool::bytes).sum::<usize>()
            + self.targets.capacity() * std::mem::size_of::<Target>()
    }

    /// The table this router routes.
    #[must_use]
    pub fn table(&self) -> &TrafficTable {
        &self.table
    }

    /// The generation of the table this router was compiled from.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.table.generation()
    }

    /// Whether the router routes nothing (its table had no revisions).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.pools.is_empty()
    }

    /// Routes one request: match routes first, then the weighted split, then an instance.
    ///
    /// A request with a [`key`](Request::key) is routed sticky and `rng` is not touched;
    /// otherwise the choice is random. Returns `None` only when the table is empty.
    #[inline]
    pub fn route<R: Rng + ?Sized>(
        &self,
        request: &Request<'_>,
        rng: &mut R,
    ) -> Option<Decision<'_>> {
        let bare = request.headers.is_empty() && request.cookies.is_empty();
        match request.key {
            Some(key) if bare && !self.keyed_routes => self.sticky_split(key_hash(key)),
            Some(key) => {
                let hash = key_hash(key);
                match self.matched(request, hash) {
                    Some((index, pool)) => self.sticky_in(pool, hash, Some(index)),
                    None => self.sticky_split(hash),
                }
            }
            None if bare || self.routes.is_empty() => self.route_random(rng),
            None => match self.matched(request, 0) {
                Some((index, pool)) => {
                    let instance = self.random_in(pool, rng.next_u32());
                    self.decision(instance, self.mirror_random(rng), Some(index))
                }
                None => self.route_random(rng),
            },
        }
    }

    /// Routes a request that carries nothing at random: the same as [`Router::route`] with
    /// [`Request::new`], without looking at routes (no route can match such a request).
    //
    // Always inlined, and the common shape (two revisions of equal-weight instances) is
    // straight-line arithmetic: the decision is five words, and returning it through
    // memory from an outlined call costs more than the routing itself.
    #[inline(always)]
    pub fn route_random<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<Decision<'_>> {
        let draw = rng.next_u64();
        if self.fast {
            let lane = self.lanes[self.split.first_or_second((draw >> 32) as u32) & 1];
            let offset = (u64::from(draw as u32) * (lane & 0xffff_ffff)) >> 32;
            // The fast shape has no mirror, so nothing more is drawn or looked at.
            return self.decision((lane >> 32) as usize + offset as usize, false, None);
        }
        let instance = self.random_split(draw);
        self.decision(instance, self.mirror_random(rng), None)
    }

    /// Routes a request that carries only a sticky key: the same as [`Router::route`]
    /// with `Request::new().with_key(key)`. Uses no randomness.
    #[inline(always)]
    pub fn route_sticky(&self, key: &[u8]) -> Option<Decision<'_>> {
        let hash = key_hash(key);
        if self.keyed_routes {
            let request = Request::new().with_key(key);
            if let Some((index, pool)) = self.matched(&request, hash) {
                return self.sticky_in(pool, hash, Some(index));
            }
        }
        self.sticky_split(hash)
    }

    /// The decision naming instance `instance` (an index into all the router's
    /// instances), or `None` if it is out of range (only for empty tables).
    #[inline(always)]
    fn decision(
        &self,
        instance: usize,
        mirrored: bool,
        matched_route: Option<usize>,
    ) -> Option<Decision<'_>> {
        let target = self.targets.get(instance)?;
        Some(Decision::new(target, mirrored, matched_route))
    }

    /// The random split for any table shape: the instance's index.
    #[inline(never)]
    fn random_split(&self, draw: u64) -> usize {
        self.random_in(self.split.pick((draw >> 32) as u32), draw as u32)
    }

    /// The index of a random instance of pool `pool`.
    fn random_in(&self, pool: usize, draw: u32) -> usize {
        match self.pools.get(pool) {
            Some(p) => p.start + p.picker.pick(draw, p.count),
            None => NOWHERE,
        }
    }

    #[inline(always)]
    fn sticky_split(&self, hash: u64) -> Option<Decision<'_>> {
        self.sticky_in(self.split.pick((hash >> 32) as u32), hash, None)
    }

    #[inline(always)]
    fn sticky_in(&self, pool: usize, hash: u64, route: Option<usize>) -> Option<Decision<'_>> {
        let instance = match self.pools.get(pool) {
            Some(p) if p.count > 1 => {
                p.target_of(p.ring(&self.targets).owner(instance_point(hash)))
            }
            Some(p) => p.start,
            None => return None,
        };
        let mirrored = matches!(&self.mirror, Some(m) if u64::from(mirror_point(hash)) < m.cut);
        self.decision(instance, mirrored, route)
    }

    #[inline(always)]
    fn mirror_random<R: Rng + ?Sized>(&self, rng: &mut R) -> bool {
        match &self.mirror {
            Some(mirror) => u64::from(rng.next_u32()) < mirror.cut,
            None => false,
        }
    }

    /// The first route `request` matches, as (route index, pool).
    fn matched(&self, request: &Request<'_>, key_hash: u64) -> Option<(usize, usize)> {
        self.routes
            .iter()
            .enumerate()
            .find(|(_, route)| route.matches(request, key_hash))
            .map(|(index, route)| (index, route.pool as usize))
    }
}

impl From<&TrafficTable> for Router {
    fn from(table: &TrafficTable) -> Self {
        Router::new(table)
    }
}

/// The table's mirror, if it copies anything to a revision of the table.
fn effective_mirror(table: &TrafficTable) -> Option<&Revision> {
    table
        .mirror()
        .filter(|m| !m.share.is_zero() && table.backend(&m.revision).is_some())
        .map(|m| &m.revision)
}

#[cfg(test)]
mod tests;
