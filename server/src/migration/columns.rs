//! Column and index shorthands shared by the migrations.

use sea_orm_migration::prelude::*;

/// A UUID column that must be set.
pub(crate) fn uuid_col(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).uuid().not_null().take()
}

/// A UUID column that may be empty.
pub(crate) fn uuid_null(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).uuid().null().take()
}

/// A time column (with time zone) that must be set.
pub(crate) fn instant(name: &'static str) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .not_null()
        .take()
}

/// A time column that may be empty.
pub(crate) fn instant_null(name: &'static str) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .null()
        .take()
}

/// An index on `columns` of `table`.
pub(crate) fn index(
    table: &'static str,
    name: &'static str,
    columns: &[&'static str],
) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table);
    for column in columns {
        index.col(*column);
    }
    index.take()
}
