//! The `Store` contract, proven against every store: the in-memory one, the file
//! store (feature `file-store`) and the PostgreSQL store on a real server started on
//! loopback (feature `postgres`).

mod stores;

use cutover::store::MemoryStore;
use stores::contract::{self, Backend};

/// Generates one test per contract case for a backend made by `$fresh`.
macro_rules! contract_tests {
    ($fresh:expr; $($case:ident)*) => {
        $(
            #[test]
            fn $case() {
                contract::$case(&$fresh);
            }
        )*
    };
}

macro_rules! every_case {
    ($fresh:expr) => {
        contract_tests!($fresh;
            missing_ids_load_as_none
            documents_round_trip_byte_for_byte
            each_save_counts_the_version_up
            a_create_over_a_document_conflicts
            a_stale_version_conflicts
            a_version_never_stored_conflicts
            ids_are_independent
            the_size_bound_holds
            references_and_boxes_are_stores
            racing_saves_from_one_read
            read_modify_write_loses_no_update
        );
    };
}

impl Backend for MemoryStore {
    type Store = MemoryStore;

    fn handle(&self) -> MemoryStore {
        self.clone()
    }
}

mod memory {
    use super::*;

    every_case!(MemoryStore::new());

    #[test]
    fn every_case_is_listed() {
        // The PostgreSQL test runs `contract::all`; this keeps it and the list above whole.
        assert_eq!(contract::all::<MemoryStore>().len(), 11);
    }
}

#[cfg(feature = "file-store")]
mod file {
    use cutover::store::FileStore;

    use super::*;

    /// A fresh directory; its handles are stores opened on it, as other processes would.
    pub struct Directory(tempfile::TempDir);

    impl Directory {
        fn fresh() -> Directory {
            Directory(tempfile::tempdir().expect("a temporary directory"))
        }
    }

    impl Backend for Directory {
        type Store = FileStore;

        fn handle(&self) -> FileStore {
            FileStore::open(self.0.path()).expect("the directory opens")
        }
    }

    every_case!(Directory::fresh());
}

#[cfg(feature = "postgres")]
mod postgres {
    use cutover::store::PostgresStore;

    use super::*;
    use crate::stores::postgres_server::PostgresServer;

    /// A fresh table on the server; its handles are stores with their own connection.
    struct Table {
        params: String,
        name: String,
    }

    impl Backend for Table {
        type Store = PostgresStore;

        fn handle(&self) -> PostgresStore {
            PostgresStore::connect(&self.params, &self.name).expect("connects")
        }
    }

    /// Every case, each on its own table of one server (a server takes a few seconds
    /// to start, so the cases share it).
    #[test]
    fn contract_on_a_real_server() {
        let Some(server) = PostgresServer::start() else {
            return;
        };
        for (name, case) in contract::all::<Table>() {
            eprintln!("postgres: {name}");
            let table = Table {
                params: server.params(),
                name: name.to_owned(),
            };
            table.handle().create_table().expect("the table is made");
            case(&table);
        }
    }
}
