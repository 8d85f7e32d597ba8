//! The query layer both engines run: a statement is SQL text with `$n` placeholders and
//! owned parameters, and its result is owned rows of plain values.
//!
//! The repositories build statements once with the sqlx-like API here; each engine
//! implements [`Executor`]: PostgreSQL through sqlx, SQLite through rusqlite on the calling
//! thread (a statement on a cached page takes microseconds, far less than handing it to
//! another thread and back).

use std::borrow::Cow;
use std::fmt::Display;
use std::fmt::Write as _;
use std::marker::PhantomData;
use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

use crate::StoreError;

/// The type of a bound value, so that a NULL reaches PostgreSQL with the column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Int,
    Real,
    Text,
    Bool,
    Uuid,
}

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    Null(Kind),
    Int(i64),
    Real(f64),
    Text(String),
    Bool(bool),
    Uuid(Uuid),
}

/// A value read from a result row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Bool(bool),
    Uuid(Uuid),
    Blob(Vec<u8>),
}

/// A Rust value that can be bound to a placeholder.
pub(crate) trait Encode {
    const KIND: Kind;
    fn into_param(self) -> Param;
}

macro_rules! encode {
    ($($ty:ty => $kind:ident ($value:ident) $convert:expr;)*) => {$(
        impl Encode for $ty {
            const KIND: Kind = Kind::$kind;
            fn into_param(self) -> Param {
                let $value = self;
                Param::$kind($convert)
            }
        }
    )*};
}

encode! {
    i64 => Int(v) v;
    i32 => Int(v) i64::from(v);
    f64 => Real(v) v;
    bool => Bool(v) v;
    Uuid => Uuid(v) v;
    String => Text(v) v;
    &str => Text(v) v.to_owned();
    &String => Text(v) v.clone();
}

impl<T: Encode> Encode for Option<T> {
    const KIND: Kind = T::KIND;
    fn into_param(self) -> Param {
        match self {
            Some(value) => value.into_param(),
            None => Param::Null(T::KIND),
        }
    }
}

impl<T: Encode + Clone> Encode for &Option<T> {
    const KIND: Kind = T::KIND;
    fn into_param(self) -> Param {
        self.clone().into_param()
    }
}

/// A Rust value that can be read from a column.
pub(crate) trait Decode: Sized {
    const NAME: &'static str;
    /// The value back when it has another type.
    fn decode(value: Value) -> Result<Self, Value>;
}

impl Decode for i64 {
    const NAME: &'static str = "an integer";
    fn decode(value: Value) -> Result<Self, Value> {
        match value {
            Value::Int(v) => Ok(v),
            other => Err(other),
        }
    }
}

impl Decode for f64 {
    const NAME: &'static str = "a number";
    fn decode(value: Value) -> Result<Self, Value> {
        match value {
            Value::Real(v) => Ok(v),
            // SQLite stores a REAL that has no fraction as an integer.
            Value::Int(v) => Ok(v as f64),
            other => Err(other),
        }
    }
}

impl Decode for bool {
    const NAME: &'static str = "a boolean";
    fn decode(value: Value) -> Result<Self, Value> {
        match value {
            Value::Bool(v) => Ok(v),
            // SQLite has no boolean type: 0 and 1.
            Value::Int(v) => Ok(v != 0),
            other => Err(other),
        }
    }
}

impl Decode for String {
    const NAME: &'static str = "text";
    fn decode(value: Value) -> Result<Self, Value> {
        match value {
            Value::Text(v) => Ok(v),
            other => Err(other),
        }
    }
}

impl Decode for Uuid {
    const NAME: &'static str = "a UUID";
    fn decode(value: Value) -> Result<Self, Value> {
        match value {
            Value::Uuid(v) => Ok(v),
            // SQLite keeps UUIDs as 16-byte blobs.
            Value::Blob(bytes) => Uuid::from_slice(&bytes).map_err(|_| Value::Blob(bytes)),
            other => Err(other),
        }
    }
}

impl<T: Decode> Decode for Option<T> {
    const NAME: &'static str = T::NAME;
    fn decode(value: Value) -> Result<Self, Value> {
        match value {
            Value::Null => Ok(None),
            value => T::decode(value).map(Some),
        }
    }
}

/// One result row: its column names (shared by the rows of a result) and values.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    pub(crate) fn new(columns: Arc<[String]>, values: Vec<Value>) -> Self {
        Self { columns, values }
    }

    fn index(&self, column: &str) -> Result<usize, StoreError> {
        self.columns
            .iter()
            .position(|name| name == column)
            .ok_or_else(|| StoreError::Corrupt(format!("no column {column:?} in the result")))
    }

    /// Moves a column's value out (a second read of it gets NULL).
    pub(crate) fn take<T: Decode>(&mut self, column: &str) -> Result<T, StoreError> {
        let index = self.index(column)?;
        self.take_at(index)
    }

    pub(crate) fn take_at<T: Decode>(&mut self, index: usize) -> Result<T, StoreError> {
        let value = self
            .values
            .get_mut(index)
            .map(|value| std::mem::replace(value, Value::Null))
            .ok_or_else(|| StoreError::Corrupt(format!("no column {index} in the result")))?;
        self.decode(index, value)
    }

    /// Reads a column's value and leaves it in place.
    pub(crate) fn try_get<T: Decode>(&self, column: &str) -> Result<T, StoreError> {
        let index = self.index(column)?;
        self.decode(index, self.values[index].clone())
    }

    fn decode<T: Decode>(&self, index: usize, value: Value) -> Result<T, StoreError> {
        T::decode(value).map_err(|value| {
            let name = self.columns.get(index).map_or("?", String::as_str);
            StoreError::Corrupt(format!("column {name:?} is not {}: {value:?}", T::NAME))
        })
    }
}

/// A type built from a result row.
pub(crate) trait FromRow: Sized {
    fn from_row(row: &mut Row) -> Result<Self, StoreError>;
}

macro_rules! tuple_from_row {
    ($($ty:ident $index:tt),+) => {
        impl<$($ty: Decode),+> FromRow for ($($ty,)+) {
            fn from_row(row: &mut Row) -> Result<Self, StoreError> {
                Ok(($(row.take_at::<$ty>($index)?,)+))
            }
        }
    };
}
tuple_from_row!(A 0);
tuple_from_row!(A 0, B 1);
tuple_from_row!(A 0, B 1, C 2);

/// Declares a row struct whose fields are read from the columns of the same names.
macro_rules! row_struct {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $($(#[$field_meta:meta])* $field_vis:vis $field:ident : $ty:ty),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $($(#[$field_meta])* $field_vis $field: $ty),*
        }

        impl $crate::sql::FromRow for $name {
            fn from_row(row: &mut $crate::sql::Row) -> Result<Self, $crate::StoreError> {
                Ok(Self { $($field: row.take(stringify!($field))?),* })
            }
        }
    };
}
pub(crate) use row_struct;

/// What a statement that writes reports.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Done {
    rows_affected: u64,
}

impl Done {
    pub(crate) fn rows_affected(&self) -> u64 {
        self.rows_affected
    }
}

/// Runs statements: a connection of one of the engines, inside a transaction.
#[async_trait]
pub(crate) trait Executor: Send {
    /// The statement's rows, at most `max_rows` of them.
    async fn fetch(
        &mut self,
        sql: Cow<'static, str>,
        params: Vec<Param>,
        numbering: Numbering,
        max_rows: Option<usize>,
    ) -> Result<Vec<Row>, StoreError>;

    /// Runs the statement to the end; how many rows it changed.
    async fn execute(
        &mut self,
        sql: Cow<'static, str>,
        params: Vec<Param>,
        numbering: Numbering,
    ) -> Result<u64, StoreError>;
}

/// How a statement's `$n` placeholders relate to SQLite's parameter indexes. SQLite
/// numbers named parameters by their first appearance, and finding an index's name
/// walks a list, which made binding quadratic in the number of parameters: 2% of the
/// server's CPU while timers fired, in multi-row inserts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Numbering {
    /// `$1`, `$2`, … first appear in that order, as in every built statement: `$n` is
    /// index n.
    InOrder,
    /// SQL written by hand, where `$2` may come before `$1`: each index's name is read.
    ByName,
}

/// SQL text built at run time. Only ever from trusted fragments, never from input: input
/// goes into parameters.
pub(crate) struct AssertSqlSafe(pub String);

/// SQL text: a literal, or text asserted safe.
pub(crate) struct SqlText(Cow<'static, str>);

impl From<&'static str> for SqlText {
    fn from(sql: &'static str) -> Self {
        Self(Cow::Borrowed(sql))
    }
}

impl From<AssertSqlSafe> for SqlText {
    fn from(sql: AssertSqlSafe) -> Self {
        Self(Cow::Owned(sql.0))
    }
}

/// A statement with its parameters.
#[must_use]
pub(crate) struct Query {
    sql: Cow<'static, str>,
    params: Vec<Param>,
    numbering: Numbering,
}

pub(crate) fn query(sql: impl Into<SqlText>) -> Query {
    Query {
        sql: sql.into().0,
        params: Vec::new(),
        numbering: Numbering::ByName,
    }
}

impl Query {
    pub(crate) fn bind(mut self, value: impl Encode) -> Self {
        self.params.push(value.into_param());
        self
    }

    pub(crate) async fn execute<E: Executor + ?Sized>(
        self,
        on: &mut E,
    ) -> Result<Done, StoreError> {
        let rows_affected = on.execute(self.sql, self.params, self.numbering).await?;
        Ok(Done { rows_affected })
    }

    pub(crate) async fn fetch_all<E: Executor + ?Sized>(
        self,
        on: &mut E,
    ) -> Result<Vec<Row>, StoreError> {
        on.fetch(self.sql, self.params, self.numbering, None).await
    }

    pub(crate) async fn fetch_optional<E: Executor + ?Sized>(
        self,
        on: &mut E,
    ) -> Result<Option<Row>, StoreError> {
        Ok(on
            .fetch(self.sql, self.params, self.numbering, Some(1))
            .await?
            .pop())
    }

    pub(crate) async fn fetch_one<E: Executor + ?Sized>(
        self,
        on: &mut E,
    ) -> Result<Row, StoreError> {
        let sql = self.sql.clone();
        self.fetch_optional(on)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("no row from {sql}")))
    }
}

/// A statement whose rows are read as `T`.
#[must_use]
pub(crate) struct QueryAs<T> {
    query: Query,
    row: PhantomData<fn() -> T>,
}

pub(crate) fn query_as<T: FromRow>(sql: impl Into<SqlText>) -> QueryAs<T> {
    QueryAs {
        query: query(sql),
        row: PhantomData,
    }
}

impl<T: FromRow> QueryAs<T> {
    pub(crate) fn bind(self, value: impl Encode) -> Self {
        Self {
            query: self.query.bind(value),
            row: PhantomData,
        }
    }

    pub(crate) async fn fetch_all<E: Executor + ?Sized>(
        self,
        on: &mut E,
    ) -> Result<Vec<T>, StoreError> {
        let rows = self.query.fetch_all(on).await?;
        rows.into_iter()
            .map(|mut row| T::from_row(&mut row))
            .collect()
    }

    pub(crate) async fn fetch_optional<E: Executor + ?Sized>(
        self,
        on: &mut E,
    ) -> Result<Option<T>, StoreError> {
        let row = self.query.fetch_optional(on).await?;
        row.map(|mut row| T::from_row(&mut row)).transpose()
    }

    pub(crate) async fn fetch_one<E: Executor + ?Sized>(self, on: &mut E) -> Result<T, StoreError> {
        T::from_row(&mut self.query.fetch_one(on).await?)
    }
}

/// A statement whose first column is read as `T`.
#[must_use]
pub(crate) struct QueryScalar<T> {
    query: QueryAs<(T,)>,
}

pub(crate) fn query_scalar<T: Decode>(sql: impl Into<SqlText>) -> QueryScalar<T> {
    QueryScalar {
        query: query_as(sql),
    }
}

impl<T: Decode> QueryScalar<T> {
    pub(crate) fn bind(self, value: impl Encode) -> Self {
        Self {
            query: self.query.bind(value),
        }
    }

    pub(crate) async fn fetch_optional<E: Executor + ?Sized>(
        self,
        on: &mut E,
    ) -> Result<Option<T>, StoreError> {
        Ok(self.query.fetch_optional(on).await?.map(|(v,)| v))
    }

    pub(crate) async fn fetch_one<E: Executor + ?Sized>(self, on: &mut E) -> Result<T, StoreError> {
        Ok(self.query.fetch_one(on).await?.0)
    }
}

/// SQL assembled piece by piece, with every value bound to a `$n` placeholder.
pub(crate) struct QueryBuilder {
    sql: String,
    params: Vec<Param>,
}

impl QueryBuilder {
    pub(crate) fn new(start: impl Into<String>) -> Self {
        Self {
            sql: start.into(),
            params: Vec::new(),
        }
    }

    /// Appends trusted SQL (never input).
    pub(crate) fn push(&mut self, sql: impl Display) -> &mut Self {
        write!(self.sql, "{sql}").expect("writing to a String cannot fail");
        self
    }

    pub(crate) fn push_bind(&mut self, value: impl Encode) -> &mut Self {
        self.params.push(value.into_param());
        let n = self.params.len();
        self.push(format_args!("${n}"))
    }

    /// Pieces separated by `separator`.
    pub(crate) fn separated(&mut self, separator: &'static str) -> Separated<'_> {
        Separated {
            builder: self,
            separator,
            first: true,
        }
    }

    /// `VALUES (…), (…)`: one parenthesised row per item, filled in by `each`.
    pub(crate) fn push_values<I: IntoIterator>(
        &mut self,
        items: I,
        mut each: impl FnMut(Separated<'_>, I::Item),
    ) -> &mut Self {
        self.push("VALUES ");
        for (i, item) in items.into_iter().enumerate() {
            self.push(if i == 0 { "(" } else { ", (" });
            each(self.separated(", "), item);
            self.push(")");
        }
        self
    }

    /// The statement so far; the builder is left empty.
    pub(crate) fn build(&mut self) -> Query {
        Query {
            sql: Cow::Owned(std::mem::take(&mut self.sql)),
            params: std::mem::take(&mut self.params),
            // push_bind numbers each placeholder after the previous one.
            numbering: Numbering::InOrder,
        }
    }

    pub(crate) fn build_query_as<T: FromRow>(&mut self) -> QueryAs<T> {
        QueryAs {
            query: self.build(),
            row: PhantomData,
        }
    }

    pub(crate) fn build_query_scalar<T: Decode>(&mut self) -> QueryScalar<T> {
        QueryScalar {
            query: self.build_query_as(),
        }
    }
}

pub(crate) struct Separated<'a> {
    builder: &'a mut QueryBuilder,
    separator: &'static str,
    first: bool,
}

impl Separated<'_> {
    fn separate(&mut self) {
        if !std::mem::replace(&mut self.first, false) {
            self.builder.push(self.separator);
        }
    }

    pub(crate) fn push(&mut self, sql: impl Display) -> &mut Self {
        self.separate();
        self.builder.push(sql);
        self
    }

    pub(crate) fn push_bind(&mut self, value: impl Encode) -> &mut Self {
        self.separate();
        self.builder.push_bind(value);
        self
    }

    pub(crate) fn push_unseparated(&mut self, sql: impl Display) -> &mut Self {
        self.builder.push(sql);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builder_numbers_placeholders_in_order() {
        let mut qb = QueryBuilder::new("SELECT * FROM t WHERE a = ");
        qb.push_bind(1_i64).push(" AND b IN ");
        let mut list = qb.separated(", ");
        for v in ["x", "y"] {
            list.push_bind(v);
        }
        list.push_unseparated(")");
        let query = qb.build();
        assert_eq!(query.sql, "SELECT * FROM t WHERE a = $1 AND b IN $2, $3)");
        assert_eq!(
            query.params,
            vec![
                Param::Int(1),
                Param::Text("x".into()),
                Param::Text("y".into())
            ]
        );
    }

    #[test]
    fn a_null_keeps_its_type_and_rows_decode_by_name() {
        assert_eq!(None::<Uuid>.into_param(), Param::Null(Kind::Uuid));
        let id = Uuid::now_v7();
        let mut row = Row::new(
            Arc::from(vec!["id".to_owned(), "n".to_owned(), "on".to_owned()]),
            vec![
                Value::Blob(id.as_bytes().to_vec()),
                Value::Null,
                Value::Int(1),
            ],
        );
        assert_eq!(row.take::<Uuid>("id").unwrap(), id);
        assert_eq!(row.take::<Option<i64>>("n").unwrap(), None);
        assert!(row.take::<bool>("on").unwrap());
        assert!(matches!(
            row.take::<String>("missing"),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(row.take::<i64>("on"), Err(StoreError::Corrupt(_))));
    }
}
