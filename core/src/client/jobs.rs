//! Jobs: the jobs `track_job` follows until they are done, rejected or out of time, the
//! progress seen lately, and the poll of `/sync/get` that reports progress while the socket is
//! down ([`Jobs`]).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::api::CallError;
use crate::sync::JobInfo;
use crate::timer::{after, earliest, TimerTable};

use super::CallId;

/// The latest progress of this many jobs is kept, for a job tracked after it finished.
const RECENT_JOBS: usize = 256;

/// The jobs' own timer; the deadlines are per job.
#[derive(Clone, Copy, Debug)]
enum Timer {
    /// Poll `/sync/get` then, if the socket is still down.
    Poll,
}

impl From<Timer> for usize {
    fn from(t: Timer) -> usize {
        t as usize
    }
}

/// The jobs followed, and what is known of jobs lately.
#[derive(Debug)]
pub(super) struct Jobs {
    /// The jobs followed, by token and the command following it (two commands may follow one
    /// job; each gets its result), with when each gives up, if ever.
    tracked: BTreeMap<(String, CallId), Option<Instant>>,
    /// The same commands' deadlines, earliest first, for the timer.
    deadlines: BTreeSet<(Instant, String, CallId)>,
    /// The latest progress reported, tracked or not, oldest first and bounded.
    recent: VecDeque<(String, JobInfo)>,
    /// The poll.
    timers: TimerTable<Timer, 1>,
    /// How often to poll while the socket is down.
    poll_interval: Duration,
}

impl Jobs {
    /// No job yet; `/sync/get` polled every `poll_interval` while one is followed and the
    /// socket is down.
    pub(super) fn new(poll_interval: Duration) -> Jobs {
        Jobs {
            tracked: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            recent: VecDeque::new(),
            timers: TimerTable::default(),
            poll_interval,
        }
    }

    /// Follows job `token` for `command`, until `deadline`. A job whose latest
    /// progress already finished it is not followed: its result comes back at once.
    pub(super) fn track(
        &mut self,
        token: &str,
        command: CallId,
        deadline: Option<Instant>,
    ) -> Option<Result<Value, CallError>> {
        if let Some((_, job)) = self.recent.iter().rev().find(|(t, _)| t == token) {
            if let Some(result) = job_result(job) {
                return Some(result);
            }
        }
        if let Some(at) = deadline {
            self.deadlines.insert((at, token.to_string(), command));
        }
        self.tracked.insert((token.to_string(), command), deadline);
        None
    }

    /// Job `token` progressed: the commands following it and its result, if that finished it.
    pub(super) fn progress(
        &mut self,
        token: &str,
        job: &JobInfo,
    ) -> Vec<(CallId, Result<Value, CallError>)> {
        let finished = match job_result(job) {
            Some(result) => self
                .untrack(token)
                .into_iter()
                .map(|command| (command, result.clone()))
                .collect(),
            None => Vec::new(),
        };
        if self.recent.len() >= RECENT_JOBS {
            self.recent.pop_front();
        }
        self.recent.push_back((token.to_string(), job.clone()));
        finished
    }

    /// Stops following `token`: the commands that followed it.
    fn untrack(&mut self, token: &str) -> Vec<CallId> {
        let keys: Vec<(String, CallId)> = self
            .tracked
            .range((token.to_string(), CallId(0))..)
            .take_while(|((t, _), _)| t == token)
            .map(|(k, _)| k.clone())
            .collect();
        keys.into_iter()
            .filter_map(|(token, command)| {
                if let Some(at) = self.tracked.remove(&(token.clone(), command))? {
                    self.deadlines.remove(&(at, token, command));
                }
                Some(command)
            })
            .collect()
    }

    /// The commands whose jobs ran out of time at `now`, no longer followed, earliest first.
    pub(super) fn expired(&mut self, now: Instant) -> Vec<CallId> {
        let mut out = Vec::new();
        while let Some((at, _, _)) = self.deadlines.first() {
            if *at > now {
                break;
            }
            if let Some((_, token, command)) = self.deadlines.pop_first() {
                self.tracked.remove(&(token, command));
                out.push(command);
            }
        }
        out
    }

    /// Whether the poll is due at `now`; it stops until scheduled again.
    pub(super) fn poll_due(&mut self, now: Instant) -> bool {
        self.timers.expired(Timer::Poll, now)
    }

    /// Schedules the poll, unless no job is followed or it is scheduled already.
    pub(super) fn schedule_poll(&mut self, now: Instant) {
        if !self.tracked.is_empty() && self.timers.get(Timer::Poll).is_none() {
            self.timers.set(Timer::Poll, after(now, self.poll_interval));
        }
    }

    /// Whether any job is followed.
    pub(super) fn any(&self) -> bool {
        !self.tracked.is_empty()
    }

    /// The poll or the earliest deadline.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        let deadline = self.deadlines.first().map(|(at, _, _)| *at);
        earliest(self.timers.next(), deadline)
    }

    /// Stops following every job: the commands that followed one.
    pub(super) fn close(&mut self) -> Vec<CallId> {
        self.deadlines.clear();
        std::mem::take(&mut self.tracked)
            .into_keys()
            .map(|(_, command)| command)
            .collect()
    }
}

/// A job's result, once it is done (a `done` with an error in its info failed) or rejected.
fn job_result(job: &JobInfo) -> Option<Result<Value, CallError>> {
    let value = json!({"job": job.job, "status": job.status, "info": job.info});
    match job.status.as_str() {
        "done" if job.info.get("error").is_some() => Some(Err(CallError::JobFailed {
            status: job.status.clone(),
            info: job.info.clone(),
        })),
        "done" => Some(Ok(value)),
        "rejected" => Some(Err(CallError::JobFailed {
            status: job.status.clone(),
            info: job.info.clone(),
        })),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use serde_json::{json, Value};

    use crate::api::CallError;
    use crate::sync::JobInfo;

    use super::{CallId, Jobs, RECENT_JOBS};

    fn job(status: &str, info: Value) -> JobInfo {
        serde_json::from_value(json!({"job": "export", "status": status, "info": info})).unwrap()
    }

    #[allow(clippy::disallowed_methods)] // a test's clock has to start somewhere
    fn jobs() -> (Jobs, Instant) {
        (Jobs::new(Duration::from_secs(1)), Instant::now())
    }

    #[test]
    fn a_job_is_followed_until_done_and_its_progress_before_does_not_finish_it() {
        let (mut jobs, _) = jobs();
        assert_eq!(jobs.track("t1", CallId(1), None), None);
        assert_eq!(jobs.progress("t1", &job("processing", json!({}))), []);
        let [(command, result)] =
            <[_; 1]>::try_from(jobs.progress("t1", &job("done", json!({"n": 3})))).unwrap();
        assert_eq!(command, CallId(1));
        assert_eq!(
            result.unwrap(),
            json!({"job": "export", "status": "done", "info": {"n": 3}})
        );
        assert!(!jobs.any());
        // Done again: nobody follows it any more.
        assert_eq!(jobs.progress("t1", &job("done", json!({}))), []);
    }

    #[test]
    fn rejected_or_done_with_an_error_fails_and_a_job_already_done_answers_at_once() {
        let (mut jobs, _) = jobs();
        assert_eq!(jobs.progress("t1", &job("rejected", json!({}))), []);
        assert_eq!(jobs.progress("t2", &job("done", json!({"error": "x"}))), []);
        assert_eq!(jobs.progress("t3", &job("done", json!({}))), []);
        assert!(matches!(
            jobs.track("t1", CallId(1), None),
            Some(Err(CallError::JobFailed { .. }))
        ));
        assert!(matches!(
            jobs.track("t2", CallId(2), None),
            Some(Err(CallError::JobFailed { .. }))
        ));
        assert!(matches!(jobs.track("t3", CallId(3), None), Some(Ok(_))));
        // Only the latest progress counts: a job queued again is followed.
        jobs.progress("t3", &job("queued", json!({})));
        assert_eq!(jobs.track("t3", CallId(4), None), None);
        assert!(jobs.any());
    }

    #[test]
    fn jobs_out_of_time_finish_each_and_a_job_tracked_twice_answers_both() {
        let (mut jobs, t0) = jobs();
        let s = Duration::from_secs;
        jobs.track("b", CallId(1), Some(t0 + s(5)));
        jobs.track("a", CallId(2), Some(t0 + s(9)));
        jobs.track("c", CallId(3), Some(t0 + s(2)));
        jobs.track("c", CallId(4), Some(t0 + s(20)));
        jobs.track("d", CallId(5), None);
        assert_eq!(jobs.next_deadline(), Some(t0 + s(2)));
        assert_eq!(
            jobs.expired(t0 + s(4)),
            [CallId(3)],
            "the first follower of c ran out"
        );
        assert_eq!(jobs.expired(t0 + s(10)), [CallId(1), CallId(2)]);
        assert_eq!(jobs.next_deadline(), Some(t0 + s(20)));
        jobs.track("c", CallId(6), None);
        let done: Vec<CallId> = jobs
            .progress("c", &job("done", json!({})))
            .into_iter()
            .map(|(c, _)| c)
            .collect();
        assert_eq!(
            done,
            [CallId(4), CallId(6)],
            "both followers of c are answered"
        );
        assert_eq!(
            jobs.next_deadline(),
            None,
            "a finished job's deadline goes with it"
        );
        assert_eq!(jobs.close(), [CallId(5)]);
    }

    #[test]
    fn the_poll_runs_every_interval_while_a_job_is_followed() {
        let (mut jobs, t0) = jobs();
        let s = Duration::from_secs;
        jobs.schedule_poll(t0);
        assert_eq!(jobs.next_deadline(), None, "no job, no poll");
        jobs.track("t", CallId(1), None);
        jobs.schedule_poll(t0);
        jobs.schedule_poll(t0 + s(1) / 2);
        assert_eq!(jobs.next_deadline(), Some(t0 + s(1)), "scheduled once");
        assert!(!jobs.poll_due(t0));
        assert!(jobs.poll_due(t0 + s(1)));
        assert!(!jobs.poll_due(t0 + s(1)), "until scheduled again");
        assert_eq!(jobs.next_deadline(), None);
    }

    #[test]
    fn only_the_latest_256_jobs_are_remembered() {
        let (mut jobs, _) = jobs();
        for n in 0..=RECENT_JOBS {
            jobs.progress(&format!("t{n}"), &job("done", json!({})));
        }
        assert_eq!(jobs.track("t0", CallId(1), None), None, "forgotten");
        assert!(jobs.track("t1", CallId(2), None).is_some());
    }
}
