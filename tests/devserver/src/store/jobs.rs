//! Backup and restore jobs.

use serde_json::{json, Value};

use super::{Action, ApiError, Family, Inner, Job, Kind, ProjectData, RestoreSource};

impl Inner {
    // ------------------------------------------------------------------ jobs

    fn job_token(&mut self) -> String {
        format!("job-{}", self.next_gid())
    }

    /// Appends the `jobs` item for the job's current state.
    fn push_job(&mut self, token: &str) {
        let Some(job) = self.jobs.get(token) else {
            return;
        };
        let data = json!({
            "project_gid": self.project, "job": job.job, "status": job.status, "info": job.info,
            "created_on": job.created_on, "updated_on": job.updated_on,
        });
        self.push(Family::Cc, Action::Update, "jobs", token, Some(&data));
        self.flush();
    }

    /// Starts a backup: snapshots the project data now, records the new backup version on the
    /// project (UPDATE cc.projects), and queues the job. Returns `(token, version, timestamp)`.
    pub(crate) fn start_backup(
        &mut self,
        created_by: Option<&str>,
        name: Option<&str>,
    ) -> (String, u64, f64) {
        let now = self.tick();
        let created_by = created_by.unwrap_or(&self.api_user).to_owned();
        let mut version = 1;
        let pgid = self.project.clone();
        let _ = self.modify(Kind::Projects, &pgid, |m| {
            let backups = m.entry("backups").or_insert_with(|| json!({"versions": [], "next_version": 1}));
            version = backups.get("next_version").and_then(Value::as_u64).unwrap_or(1);
            let entry = json!({
                "version": version, "name": name.map_or_else(|| format!("Backup {version}"), str::to_owned),
                "created_by": created_by, "timestamp": now,
            });
            if let Some(b) = backups.as_object_mut() {
                match b.get_mut("versions").and_then(Value::as_array_mut) {
                    Some(list) => list.push(entry),
                    None => {
                        b.insert("versions".into(), json!([entry]));
                    }
                }
                b.insert("next_version".into(), json!(version + 1));
            }
            m.insert("last_backed_up".into(), json!(now));
        });
        self.backups.insert(version, self.data.clone());
        self.push_kind(Kind::Projects, Action::Update, &pgid);
        let token = self.job_token();
        self.jobs.insert(
            token.clone(),
            Job {
                job: "backup_project",
                status: "queued",
                info: json!({}),
                created_on: now,
                updated_on: now,
                restore_version: None,
            },
        );
        self.push_job(&token);
        (token, version, now)
    }

    /// Queues a restore of backup `version` (`None`: the latest backup, or the seed if there is
    /// none). `Err(422)` for a version that doesn't exist. Returns `(token, timestamp)`.
    pub(crate) fn start_restore(
        &mut self,
        version: Option<u64>,
    ) -> Result<(String, f64), ApiError> {
        let restore_version = match version {
            Some(v) if self.backups.contains_key(&v) => Some(v),
            Some(v) => return Err(ApiError::unprocessable(json!({"version": v}))),
            None => self.backups.keys().next_back().copied(),
        };
        let now = self.tick();
        let token = self.job_token();
        self.jobs.insert(
            token.clone(),
            Job {
                job: "restore_project",
                status: "queued",
                info: json!({}),
                created_on: now,
                updated_on: now,
                restore_version,
            },
        );
        self.push_job(&token);
        Ok((token, now))
    }

    /// What a restore job will put back.
    pub(crate) fn restore_source(&self, token: &str) -> Option<RestoreSource> {
        let job = self.jobs.get(token)?;
        if job.job != "restore_project" {
            return None;
        }
        Some(match job.restore_version {
            Some(v) => RestoreSource::Backup(v),
            None => RestoreSource::Seed {
                seed: self.seed,
                records: self.seed_records,
            },
        })
    }

    /// Moves a job to `status`; for a restore reaching `done`, first replaces the project data
    /// (with `seeded` when the source is the seed). No per-record items are appended for that.
    pub(crate) fn job_step(
        &mut self,
        token: &str,
        status: &'static str,
        seeded: Option<ProjectData>,
    ) {
        let now = self.tick();
        let Some(job) = self.jobs.get_mut(token) else {
            return;
        };
        if status == "done" && job.job == "restore_project" {
            let restored = match job.restore_version {
                Some(v) => self.backups.get(&v).cloned(),
                None => seeded,
            };
            if let Some(data) = restored {
                self.data = data;
            }
        }
        if let Some(job) = self.jobs.get_mut(token) {
            job.status = status;
            job.updated_on = now;
            job.info = if status == "done" {
                json!({"total": 1, "remaining": 0})
            } else {
                json!({})
            };
        }
        self.push_job(token);
    }
}
