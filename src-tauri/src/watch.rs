//! Which held calls are new since the last look, whether to announce them one by one or as a
//! group, and which notifications to withdraw or update because their calls were decided
//! (anywhere: the window, a notification, the CLI, the clock, the agent going away). Pure (time
//! is passed in) so the rules are tested without clocks or a desktop.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use cordon_gateway::PendingApproval;

/// Arrivals closer together than this count as one burst.
pub const BURST_WINDOW: Duration = Duration::from_secs(1);

/// What to show for the calls that arrived since the last poll.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// One call, announced with its own Approve / Deny / View actions.
    One(Box<PendingApproval>),
    /// A burst: one notification "N calls waiting" (replacing the previous one) with View only.
    Many {
        /// Calls waiting now.
        waiting: usize,
    },
}

/// What the desktop must do with its notifications after a look at the pending list.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Show a notice (a group notice replaces the group bubble in place).
    Show(Notice),
    /// Withdraw the bubble of this call: it was decided or is gone.
    Withdraw(String),
    /// Withdraw the group bubble: nothing waits any more.
    WithdrawGroup,
}

/// Remembers the calls already announced and when.
#[derive(Debug, Default)]
pub struct Watch {
    seen: HashSet<String>,
    /// Calls announced with a bubble of their own (withdrawn when they are decided).
    alone: HashSet<String>,
    recent: VecDeque<Instant>,
    /// The count the group bubble shows, while it is shown.
    group: Option<usize>,
}

impl Watch {
    /// A watch that has announced nothing yet.
    pub fn new() -> Watch {
        Watch::default()
    }

    /// Takes the current pending list; returns every notification change, in order: bubbles
    /// of decided calls withdrawn, then the new notice or the group's new count.
    pub fn steps(&mut self, pending: &[PendingApproval], now: Instant) -> Vec<Step> {
        let ids: HashSet<&str> = pending.iter().map(|p| p.id.as_str()).collect();
        let mut steps: Vec<Step> = Vec::new();
        let mut gone: Vec<String> = self
            .alone
            .iter()
            .filter(|id| !ids.contains(id.as_str()))
            .cloned()
            .collect();
        gone.sort();
        for id in gone {
            self.alone.remove(&id);
            steps.push(Step::Withdraw(id));
        }
        let notice = self.observe(pending, now);
        match notice {
            Some(Notice::One(p)) => {
                self.alone.insert(p.id.clone());
                steps.push(Step::Show(Notice::One(p)));
            }
            Some(Notice::Many { waiting }) => {
                self.group = Some(waiting);
                steps.push(Step::Show(Notice::Many { waiting }));
            }
            None => match self.group {
                Some(_) if pending.is_empty() => {
                    self.group = None;
                    steps.push(Step::WithdrawGroup);
                }
                Some(shown) if shown != pending.len() => {
                    self.group = Some(pending.len());
                    steps.push(Step::Show(Notice::Many {
                        waiting: pending.len(),
                    }));
                }
                _ => {}
            },
        }
        steps
    }

    /// Takes the current pending list; returns what to announce (None when nothing is new).
    pub fn observe(&mut self, pending: &[PendingApproval], now: Instant) -> Option<Notice> {
        let fresh: Vec<&PendingApproval> = pending
            .iter()
            .filter(|p| !self.seen.contains(&p.id))
            .collect();
        // Forget decided/expired calls so the set stays as small as the pending list.
        self.seen = pending.iter().map(|p| p.id.clone()).collect();
        while self
            .recent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > BURST_WINDOW)
        {
            self.recent.pop_front();
        }
        let in_burst = !self.recent.is_empty();
        for _ in &fresh {
            self.recent.push_back(now);
        }
        match fresh.as_slice() {
            [] => None,
            [one] if !in_burst => Some(Notice::One(Box::new((*one).clone()))),
            _ => Some(Notice::Many {
                waiting: pending.len(),
            }),
        }
    }

    /// How many calls are known to be waiting.
    pub fn waiting(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cordon_gateway::approvals::ApprovalRequest;

    fn call(id: &str) -> PendingApproval {
        PendingApproval {
            id: id.to_owned(),
            request: ApprovalRequest {
                agent: "claude".into(),
                session_id: "s1".into(),
                server: "filesystem".into(),
                tool: "write_file".into(),
                action: "job.mcp-bridge.write.file".into(),
                target: Some("src/main.rs".into()),
                risk_tags: vec![],
                rule_id: Some("approve-code-write".into()),
                reason: "File writes need review".into(),
                diff: None,
                args: serde_json::json!({}),
                root: None,
                policy_version: "v1".into(),
            },
            preview: None,
            args_sha256: String::new(),
            created_at: "2026-01-01T00:00:00Z".into(),
            expires_at: "2026-01-01T00:05:00Z".into(),
        }
    }

    #[test]
    fn a_lone_call_is_announced_once_with_its_details() {
        let mut watch = Watch::new();
        let t0 = Instant::now();
        let a = call("a");
        assert_eq!(
            watch.observe(std::slice::from_ref(&a), t0),
            Some(Notice::One(Box::new(a.clone())))
        );
        assert_eq!(
            watch.observe(std::slice::from_ref(&a), t0 + BURST_WINDOW * 5),
            None
        );
        assert_eq!(watch.waiting(), 1);
    }

    #[test]
    fn several_in_one_poll_are_grouped() {
        let mut watch = Watch::new();
        let calls = [call("a"), call("b"), call("c")];
        assert_eq!(
            watch.observe(&calls, Instant::now()),
            Some(Notice::Many { waiting: 3 })
        );
    }

    #[test]
    fn a_second_call_within_the_window_is_grouped_and_later_ones_are_not() {
        let mut watch = Watch::new();
        let t0 = Instant::now();
        let (a, b, c) = (call("a"), call("b"), call("c"));
        assert!(matches!(
            watch.observe(std::slice::from_ref(&a), t0),
            Some(Notice::One(_))
        ));
        let near = t0 + BURST_WINDOW / 2;
        assert_eq!(
            watch.observe(&[a.clone(), b.clone()], near),
            Some(Notice::Many { waiting: 2 })
        );
        // Long after the burst, a new call gets its own notification again.
        let later = near + BURST_WINDOW * 3;
        assert!(matches!(
            watch.observe(&[a, b, c], later),
            Some(Notice::One(p)) if p.id == "c"
        ));
    }

    #[test]
    fn a_decided_call_is_withdrawn_once_and_the_group_follows_the_count() {
        let mut watch = Watch::new();
        let t0 = Instant::now();
        let (a, b, c) = (call("a"), call("b"), call("c"));
        assert!(matches!(
            watch.steps(std::slice::from_ref(&a), t0).as_slice(),
            [Step::Show(Notice::One(p))] if p.id == "a"
        ));
        // Decided (from the CLI, say): its bubble goes, exactly once.
        let later = t0 + BURST_WINDOW * 3;
        assert_eq!(watch.steps(&[], later), vec![Step::Withdraw("a".into())]);
        assert_eq!(watch.steps(&[], later), vec![]);
        // A burst: one group bubble whose count follows the decisions, withdrawn at zero.
        let burst = later + BURST_WINDOW * 3;
        assert_eq!(
            watch.steps(&[a.clone(), b.clone(), c.clone()], burst),
            vec![Step::Show(Notice::Many { waiting: 3 })]
        );
        assert_eq!(
            watch.steps(&[a.clone(), c.clone()], burst),
            vec![Step::Show(Notice::Many { waiting: 2 })]
        );
        assert_eq!(watch.steps(&[a.clone(), c], burst), vec![]);
        assert_eq!(watch.steps(&[], burst), vec![Step::WithdrawGroup]);
        assert_eq!(watch.steps(&[], burst), vec![]);
        // A lone call after that: its own bubble again, withdrawn when it times out.
        let lone = burst + BURST_WINDOW * 3;
        assert!(matches!(
            watch.steps(std::slice::from_ref(&a), lone).as_slice(),
            [Step::Show(Notice::One(_))]
        ));
        assert_eq!(
            watch.steps(&[], lone + BURST_WINDOW),
            vec![Step::Withdraw("a".into())]
        );
    }

    #[test]
    fn decided_calls_are_forgotten_and_a_reused_id_is_new_again() {
        let mut watch = Watch::new();
        let t0 = Instant::now();
        let a = call("a");
        assert!(watch.observe(std::slice::from_ref(&a), t0).is_some());
        assert_eq!(watch.observe(&[], t0 + BURST_WINDOW * 2), None);
        assert_eq!(watch.waiting(), 0);
        assert!(watch.observe(&[a], t0 + BURST_WINDOW * 4).is_some());
    }
}
