//! `activities`: notes, calls, meetings, logged emails and tasks.

/// The `activities` table, declared once (see [`crate::entities::table`]): expands into
/// the entity here and the view in `crm_app::records::activities`. Every column is the
/// projector's own: an activity's events carry its kind (`crm_domain::activity::ActivityKind`,
/// stored whole as `details`) and its links, not fields of the same names.
#[macro_export]
macro_rules! activity_table {
    ($($expand:ident)::+) => { $($expand)::+! {
        /// An activity's read row. `details` holds the kind's own fields; `title` is its
        /// subject, title or the first line of a note; `occurred_at` orders timelines (a
        /// meeting's start, an email's sending time, a task's due time, else the logging
        /// time).
        table "activities" in activity;
        events (), ();
        /// An activity as the API shows it.
        view ActivityView;
        fields {}
        money {}
        own {
            /// Custom values keyed by API key (`GET /v1/schema` lists the fields),
            /// without archived fields.
            custom: Json as Object,
            /// `note`, `call`, `meeting`, `email` or `task`.
            kind: String,
            /// Subject, title, or a note's first line.
            title: String,
            /// The kind's own fields, with `kind` (e.g. a call's `direction`,
            /// `duration_seconds`, `outcome`, `body`).
            details: Json as serde_json::Value,
            /// When it happened (timeline order).
            occurred_at: DateTime<Utc>,
            /// Linked contacts.
            contact_ids: Vec<Uuid>,
            /// Linked companies.
            company_ids: Vec<Uuid>,
            /// Linked deals.
            deal_ids: Vec<Uuid>,
            /// Tasks: due time.
            due_at: Option<DateTime<Utc>>,
            /// Tasks: assignee.
            assignee_id: Option<Uuid>,
            /// Tasks: priority (`low`, `normal` or `high`).
            priority: Option<String>,
            /// Tasks: when completed.
            completed_at: Option<DateTime<Utc>>,
        }
        derived {
            /// Tasks: `open` or `completed`; null for other kinds.
            status: Option<&'static str> as Option<String> = $crate::entities::activity::Model::task_status,
        }
        hidden {}
    } };
}

activity_table!(crate::read_table);

impl Model {
    /// A task's status: `completed` once completed, else `open`; `None` for other kinds.
    pub fn task_status(&self) -> Option<&'static str> {
        (self.kind == "task").then_some(if self.completed_at.is_some() {
            "completed"
        } else {
            "open"
        })
    }
}
