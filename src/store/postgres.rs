//! The store for controllers on several machines: a table in PostgreSQL.

use std::fmt;

use postgres::{Client, NoTls, Statement};

use super::{MAX_DOCUMENT_LEN, RolloutId, Store, StoreError, Stored, Version, check_len};

/// Opens a connection; called again after one is lost.
type Connector = Box<dyn FnMut() -> Result<Client, postgres::Error> + Send>;

/// A [`Store`] keeping rollouts as rows of a PostgreSQL table, for controllers on
/// several machines (feature `postgres`).
///
/// # The table
///
/// ```sql
/// CREATE TABLE IF NOT EXISTS cutover_rollouts (
///     id text PRIMARY KEY,
///     version bigint NOT NULL CHECK (version > 0),
///     document bytea NOT NULL
/// )
/// ```
///
/// [`create_table`](PostgresStore::create_table) makes it (run it once, before the
/// controllers start: PostgreSQL's `IF NOT EXISTS` is not safe against concurrent
/// creation). The document is `bytea`, so it comes back byte for byte, whatever its
/// encoding.
///
/// # Compare-and-swap
///
/// Each call is one statement in its own transaction, prepared once per connection:
/// a create is `INSERT … ON CONFLICT (id) DO NOTHING`, a save is
/// `UPDATE … SET document = $3, version = version + 1 WHERE id = $1 AND version = $2`.
/// PostgreSQL's row lock makes the check and the write one step: of two saves naming
/// the same version, the second waits for the first, finds the version changed, and
/// updates nothing. A statement that changed no row is a conflict; the store then
/// reads the version it found, for the error (a version read just after the refusal,
/// so it may already be a later one). A save returns once its transaction committed
/// (durable as the server's `synchronous_commit` makes it). A load refuses a stored
/// document over [`MAX_DOCUMENT_LEN`] without fetching it.
///
/// # Errors
///
/// Its error is a [`PostgresStoreError`]. Transient ([`StoreError::Transient`]): a
/// lost or refused connection, network I/O, and the server's passing refusals —
/// SQLSTATE classes 08 (connection) and 53 (insufficient resources), serialization
/// failures and deadlocks (40001, 40P01), an unavailable lock (55P03), a cancelled
/// statement (57014) and a server shutting down or starting (57P01–57P03). After a
/// lost connection the next call connects again. Everything else is
/// [`StoreError::Failed`]: a missing table or permission, a refused login, and rows
/// this store did not write (a version below 1, a document over the limit).
///
/// # Examples
///
/// ```no_run
/// use cutover::store::{PostgresStore, RolloutId, Store};
///
/// let mut store = PostgresStore::connect(
///     "host=db.internal user=deploy dbname=deploy",
///     PostgresStore::DEFAULT_TABLE,
/// )?;
/// store.create_table()?;
/// let id = RolloutId::new("checkout-web")?;
/// let version = store.save(&id, br#"{"format":1}"#, None)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PostgresStore {
    connect: Connector,
    /// The table's name, checked by [`table_name`].
    table: String,
    connection: Option<Connection>,
}

/// A live connection and, once the table exists, its prepared statements.
struct Connection {
    client: Client,
    statements: Option<Statements>,
}

struct Statements {
    load: Statement,
    create: Statement,
    update: Statement,
    version_of: Statement,
}

/// What went wrong in a [`PostgresStore`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresStoreError {
    /// The client or the server reported an error.
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] postgres::Error),
    /// The table's name is not a plain lowercase identifier.
    #[error(
        "table name {name:?}: use 1 to 63 lowercase ASCII letters, digits and '_', starting with a letter or '_'"
    )]
    TableName {
        /// The name given.
        name: String,
    },
    /// A row holds a version below 1, which this store never writes.
    #[error("rollout {id}: the row holds version {version}")]
    BadVersion {
        /// The rollout.
        id: RolloutId,
        /// The version found.
        version: i64,
    },
    /// A row holds a document over [`MAX_DOCUMENT_LEN`], which this store never
    /// writes; it was not fetched.
    #[error("rollout {id}: the row holds a document of {len} bytes, over the limit")]
    TooLong {
        /// The rollout.
        id: RolloutId,
        /// The document's length.
        len: i64,
    },
}

impl PostgresStoreError {
    /// Whether the operation may succeed if repeated (see [`PostgresStore`]).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        let PostgresStoreError::Postgres(error) = self else {
            return false;
        };
        if let Some(state) = error.code() {
            let code = state.code();
            return code.starts_with("08")
                || code.starts_with("53")
                || matches!(
                    code,
                    "40001" | "40P01" | "55P03" | "57014" | "57P01" | "57P02" | "57P03"
                );
        }
        error.is_closed()
            || std::error::Error::source(error).is_some_and(|cause| cause.is::<std::io::Error>())
    }
}

impl From<PostgresStoreError> for StoreError<PostgresStoreError> {
    fn from(error: PostgresStoreError) -> StoreError<PostgresStoreError> {
        if error.is_transient() {
            StoreError::Transient(error)
        } else {
            StoreError::Failed(error)
        }
    }
}

impl From<postgres::Error> for StoreError<PostgresStoreError> {
    fn from(error: postgres::Error) -> StoreError<PostgresStoreError> {
        PostgresStoreError::from(error).into()
    }
}

/// Checks a table name: a plain identifier, so it can be spliced into the statements.
fn table_name(name: &str) -> Result<String, PostgresStoreError> {
    let mut bytes = name.bytes();
    let plain = name.len() <= 63
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if plain {
        Ok(name.to_owned())
    } else {
        Err(PostgresStoreError::TableName {
            name: name.to_owned(),
        })
    }
}

impl PostgresStore {
    /// The table's name unless another is given: `cutover_rollouts`.
    pub const DEFAULT_TABLE: &'static str = "cutover_rollouts";

    /// Connects without TLS (for a server on loopback, a Unix socket, or a trusted
    /// network) to the server `params` names, in `postgres`' key-value or URL form,
    /// keeping documents in `table`.
    ///
    /// # Errors
    ///
    /// [`PostgresStoreError::TableName`] for a name that is not a plain identifier;
    /// [`PostgresStoreError::Postgres`] if the parameters are invalid or the first
    /// connection fails.
    pub fn connect(params: &str, table: &str) -> Result<PostgresStore, PostgresStoreError> {
        let config: postgres::Config = params.parse()?;
        PostgresStore::with_connector(table, move || config.connect(NoTls))
    }

    /// Keeps documents in `table`, connecting with `connect` (now, and again after a
    /// lost connection): the way to bring TLS or a connection's own settings.
    ///
    /// # Errors
    ///
    /// As [`connect`](PostgresStore::connect).
    pub fn with_connector(
        table: &str,
        mut connect: impl FnMut() -> Result<Client, postgres::Error> + Send + 'static,
    ) -> Result<PostgresStore, PostgresStoreError> {
        let table = table_name(table)?;
        let client = connect()?;
        Ok(PostgresStore {
            connect: Box::new(connect),
            table,
            connection: Some(Connection {
                client,
                statements: None,
            }),
        })
    }

    /// The table's name.
    #[must_use]
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table if it does not exist (see [`PostgresStore`]).
    ///
    /// # Errors
    ///
    /// Transient or failed as the store documents (for instance, no permission to
    /// create a table).
    pub fn create_table(&mut self) -> Result<(), StoreError<PostgresStoreError>> {
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {} (\
                id text PRIMARY KEY, \
                version bigint NOT NULL CHECK (version > 0), \
                document bytea NOT NULL)",
            self.table
        );
        let result = self.client()?.batch_execute(&sql);
        self.check(result)
    }

    /// The live connection, connecting again if it was lost.
    fn client(&mut self) -> Result<&mut Client, StoreError<PostgresStoreError>> {
        if self
            .connection
            .as_ref()
            .is_none_or(|connection| connection.client.is_closed())
        {
            self.connection = None;
            let client = (self.connect)()?;
            self.connection = Some(Connection {
                client,
                statements: None,
            });
        }
        Ok(&mut self.connection.as_mut().expect("connected above").client)
    }

    /// The live connection and its prepared statements, preparing them if needed.
    fn prepared(&mut self) -> Result<(&mut Client, &Statements), StoreError<PostgresStoreError>> {
        self.client()?;
        let connection = self.connection.as_mut().expect("connected above");
        if connection.statements.is_none() {
            let result = Statements::prepare(&mut connection.client, &self.table);
            let statements = self.check(result)?;
            self.connection
                .as_mut()
                .expect("connected above")
                .statements = Some(statements);
        }
        let Connection { client, statements } = self.connection.as_mut().expect("connected above");
        Ok((client, statements.as_ref().expect("prepared above")))
    }

    /// Passes a result on, dropping a connection the error closed so that the next
    /// call connects again.
    fn check<T>(
        &mut self,
        result: Result<T, postgres::Error>,
    ) -> Result<T, StoreError<PostgresStoreError>> {
        result.map_err(|error| {
            if self
                .connection
                .as_ref()
                .is_some_and(|connection| connection.client.is_closed())
            {
                self.connection = None;
            }
            error.into()
        })
    }

    /// The version stored under `id`, read after a refused save.
    fn version_of(
        &mut self,
        id: &RolloutId,
    ) -> Result<Option<Version>, StoreError<PostgresStoreError>> {
        let (client, statements) = self.prepared()?;
        let result = client.query_opt(&statements.version_of, &[&id.as_str()]);
        let row = self.check(result)?;
        row.map(|row| stored_version(id, row.get(0))).transpose()
    }
}

impl Statements {
    fn prepare(client: &mut Client, table: &str) -> Result<Statements, postgres::Error> {
        Ok(Statements {
            load: client.prepare(&format!(
                "SELECT version, octet_length(document), \
                 CASE WHEN octet_length(document) <= $2 THEN document END \
                 FROM {table} WHERE id = $1"
            ))?,
            create: client.prepare(&format!(
                "INSERT INTO {table} (id, version, document) VALUES ($1, 1, $2) \
                 ON CONFLICT (id) DO NOTHING"
            ))?,
            update: client.prepare(&format!(
                "UPDATE {table} SET document = $3, version = version + 1 \
                 WHERE id = $1 AND version = $2"
            ))?,
            version_of: client.prepare(&format!("SELECT version FROM {table} WHERE id = $1"))?,
        })
    }
}

/// A row's version, which must be 1 or more.
fn stored_version(id: &RolloutId, version: i64) -> Result<Version, StoreError<PostgresStoreError>> {
    u64::try_from(version)
        .ok()
        .and_then(Version::new)
        .ok_or_else(|| {
            StoreError::Failed(PostgresStoreError::BadVersion {
                id: id.clone(),
                version,
            })
        })
}

impl Store for PostgresStore {
    type Error = PostgresStoreError;

    fn load(&mut self, id: &RolloutId) -> Result<Option<Stored>, StoreError<PostgresStoreError>> {
        const LIMIT: i32 = MAX_DOCUMENT_LEN as i32;
        let (client, statements) = self.prepared()?;
        let result = client.query_opt(&statements.load, &[&id.as_str(), &LIMIT]);
        let Some(row) = self.check(result)? else {
            return Ok(None);
        };
        let version = stored_version(id, row.get(0))?;
        let document: Option<Vec<u8>> = row.get(2);
        match document {
            Some(document) => Ok(Some(Stored::new(version, document))),
            None => Err(StoreError::Failed(PostgresStoreError::TooLong {
                id: id.clone(),
                len: i64::from(row.get::<_, i32>(1)),
            })),
        }
    }

    fn save(
        &mut self,
        id: &RolloutId,
        document: &[u8],
        expected: Option<Version>,
    ) -> Result<Version, StoreError<PostgresStoreError>> {
        check_len(id, document)?;
        let (client, statements) = self.prepared()?;
        let (result, version) = match expected {
            None => (
                client.execute(&statements.create, &[&id.as_str(), &document]),
                Some(Version::FIRST),
            ),
            Some(expected) => match i64::try_from(expected.get()) {
                Ok(read) => (
                    client.execute(&statements.update, &[&id.as_str(), &read, &document]),
                    expected.next(),
                ),
                // No row holds a version past `i64::MAX`: this one cannot match.
                Err(_) => (Ok(0), None),
            },
        };
        match (self.check(result)?, version) {
            (1, Some(version)) => Ok(version),
            _ => Err(StoreError::Conflict {
                id: id.clone(),
                expected,
                found: self.version_of(id)?,
            }),
        }
    }
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("table", &self.table)
            .field("connected", &self.connection.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_plain_identifiers() {
        for good in ["cutover_rollouts", "_t", "t1", &"a".repeat(63)] {
            assert_eq!(table_name(good).ok().as_deref(), Some(good));
        }
        for bad in [
            "",
            "1t",
            "T",
            "t-1",
            "t;drop table x",
            "s.t",
            &"a".repeat(64),
        ] {
            assert!(
                matches!(table_name(bad), Err(PostgresStoreError::TableName { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn versions_below_one_are_refused() {
        let id = RolloutId::new("web").unwrap();
        for bad in [0, -1, i64::MIN] {
            assert!(matches!(
                stored_version(&id, bad),
                Err(StoreError::Failed(PostgresStoreError::BadVersion { version, .. })) if version == bad
            ));
        }
        assert_eq!(stored_version(&id, 7).ok(), Version::new(7));
    }

    #[test]
    fn a_refused_connection_is_transient_and_a_bad_configuration_is_not() {
        // Port 1 on loopback: nothing listens there, so the connection is refused.
        let refused =
            PostgresStore::connect("host=127.0.0.1 port=1 user=nobody connect_timeout=5", "t")
                .expect_err("nothing listens on port 1");
        assert!(refused.is_transient(), "{refused:?}");
        let invalid = PostgresStore::connect("port=not-a-number", "t").expect_err("invalid");
        assert!(!invalid.is_transient(), "{invalid:?}");
    }
}
