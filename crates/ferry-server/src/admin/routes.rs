//! The admin API's routes: status, task listing, one task, cancel.

use super::{Admin, AdminError};
use crate::engine::inspect::parse_statuses;
use crate::engine::{EngineStats, Outcome, TaskDetail, TaskFilter, TaskRecord, TaskStatus};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ferry_protocol::ErrorObject;
use serde_json::json;

/// Tasks per page of `GET /admin/api/tasks` unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 50;
/// Most tasks per page of `GET /admin/api/tasks`.
pub const MAX_LIMIT: usize = 500;

pub(super) fn routes() -> Router<Admin> {
    Router::new()
        .route("/admin/api/status", get(status))
        .route("/admin/api/tasks", get(tasks))
        .route("/admin/api/tasks/{id}", get(task))
        .route("/admin/api/tasks/{id}/cancel", post(cancel))
}

async fn status(State(admin): State<Admin>) -> Result<Json<EngineStats>, AdminError> {
    Ok(Json(admin.backend.stats().await?))
}

async fn tasks(
    State(admin): State<Admin>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, AdminError> {
    let Query(pairs) = query.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    let listing = Listing::parse(&pairs)?;
    let page = admin.backend.list_all(&listing.filter, listing.cursor.as_deref(), listing.limit).await?;
    let tasks: Vec<TaskRecord> = page.tasks.into_iter().map(without_outcome).collect();
    Ok(Json(json!({ "tasks": tasks, "nextCursor": page.next_cursor })).into_response())
}

/// A listing shows records without their outcome's payload (a result may be large), only
/// how they ended (`{"type": "result", "is_error": .., "value": null}`, or the error without
/// its `data`): the task's own route gives it whole.
fn without_outcome(mut record: TaskRecord) -> TaskRecord {
    record.outcome = record.outcome.map(|outcome| match outcome {
        Outcome::Result { is_error, .. } => {
            Outcome::Result { value: serde_json::value::RawValue::NULL.to_owned(), is_error }
        }
        Outcome::Error { error } => Outcome::error(ErrorObject { data: None, ..*error }),
    });
    record
}

async fn task(State(admin): State<Admin>, Path(id): Path<String>) -> Result<Json<TaskDetail>, AdminError> {
    admin.backend.detail(&id).await?.map(Json).ok_or_else(|| unknown(&id))
}

async fn cancel(State(admin): State<Admin>, Path(id): Path<String>) -> Result<Response, AdminError> {
    let before = admin.backend.get(&id).await?.ok_or_else(|| unknown(&id))?;
    let ended_before = before.status.is_terminal();
    // An ended task stays as it is; the store decides, as it may end meanwhile.
    let record = match ended_before {
        true => before,
        false => admin.backend.cancel(&id).await?.ok_or_else(|| unknown(&id))?,
    };
    if record.status == TaskStatus::Cancelled && !ended_before {
        tracing::info!(task_id = %id, "task cancelled through the admin API");
        return Ok(Json(record).into_response());
    }
    let error = format!("task {id} had already ended ({})", record.status.as_str());
    Ok((StatusCode::CONFLICT, Json(json!({ "error": error, "task": record }))).into_response())
}

fn unknown(id: &str) -> AdminError {
    AdminError::NotFound(format!("no task {id} (unknown, or expired after it ended)"))
}

/// What `GET /admin/api/tasks` asked for.
struct Listing {
    filter: TaskFilter,
    cursor: Option<String>,
    limit: usize,
}

impl Listing {
    fn parse(pairs: &[(String, String)]) -> Result<Self, AdminError> {
        let bad = AdminError::BadRequest;
        let mut listing = Listing { filter: TaskFilter::default(), cursor: None, limit: DEFAULT_LIMIT };
        for (key, value) in pairs {
            let text = || (!value.is_empty()).then(|| value.clone());
            let ms = || value.parse::<u64>().map_err(|_| bad(format!("{key} wants milliseconds, got '{value}'")));
            match key.as_str() {
                "status" => listing.filter.status = parse_statuses(value).map_err(bad)?,
                "name" => listing.filter.name = text(),
                "owner" => listing.filter.owner = text(),
                "search" => listing.filter.search = text(),
                "minAgeMs" => listing.filter.min_age_ms = Some(ms()?),
                "maxAgeMs" => listing.filter.max_age_ms = Some(ms()?),
                "cursor" => listing.cursor = text(),
                "limit" => {
                    listing.limit = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| bad(format!("limit wants a number from 1 to {MAX_LIMIT}, got '{value}'")))?;
                }
                other => {
                    return Err(bad(format!(
                        "unknown parameter '{other}' (status, name, owner, minAgeMs, maxAgeMs, search, cursor, limit)"
                    )))
                }
            }
        }
        Ok(listing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &[(&str, &str)]) -> Result<Listing, AdminError> {
        let pairs: Vec<(String, String)> = query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Listing::parse(&pairs)
    }

    #[test]
    fn a_listing_query_is_read_whole_and_bad_values_are_named() {
        let l = parse(&[("status", "working,failed"), ("owner", "bob"), ("minAgeMs", "5000"), ("limit", "7")]).unwrap();
        assert_eq!(l.filter.status, [TaskStatus::Working, TaskStatus::Failed]);
        assert_eq!((l.filter.owner.as_deref(), l.filter.min_age_ms, l.limit), (Some("bob"), Some(5000), 7));
        assert_eq!(parse(&[]).unwrap().limit, DEFAULT_LIMIT);
        for (query, says) in [
            (("status", "sleeping"), "'sleeping'"),
            (("limit", "501"), "limit"),
            (("limit", "0"), "limit"),
            (("maxAgeMs", "soon"), "maxAgeMs"),
            (("colour", "red"), "'colour'"),
        ] {
            let err = parse(&[query]).err().unwrap().to_string();
            assert!(err.contains(says), "{err}");
        }
    }
}
