//! Generated secrets stored in the database (`kernel_secrets`): the first instance to need a
//! secret creates it, every other instance on the same database reads the same value.

use super::{Db, Result};

/// Returns the secret called `name`, creating it with `generate` if no instance has yet.
/// Safe under concurrency: the insert is `ON CONFLICT DO NOTHING` and the value is read back.
pub async fn get_or_create(
    db: &Db,
    name: &str,
    generate: impl FnOnce() -> String,
) -> Result<String> {
    sqlx::query("INSERT INTO kernel_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .bind(generate())
        .bind(super::time::Clock::system().now())
        .execute(db.pool())
        .await?;
    let value: (String,) = sqlx::query_as("SELECT value FROM kernel_secrets WHERE name = $1")
        .bind(name)
        .fetch_one(db.pool())
        .await?;
    Ok(value.0)
}
