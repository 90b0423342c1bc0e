//! The relay's identification hook backed by accord's own legacy
//! classifier ([`accord_core::legacy::Classifier`]): each arriving
//! connection is named by the rules of a QEMU version family, reading
//! exactly the bytes the classifier asks for and never waiting on a
//! connection that may be silent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use accord_core::legacy::{Classifier, Decision, LegacyConfig};

use crate::relay::{Arrival, Channel, Identify, Verdict};

/// One step of the classifier on one connection, for the test's record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The connection's arrival index.
    pub index: usize,
    /// `bytes_needed()` when the connection was first looked at.
    pub needed: usize,
    /// Bytes handed to `classify`.
    pub given: usize,
    /// What `classify` answered (`Ok(decision)` or the error, formatted).
    pub answer: Result<Decision, String>,
}

/// The steps a [`LegacyIdentify`] took, shared with the test.
pub type Steps = Arc<Mutex<Vec<Step>>>;

/// Names connections with accord's [`Classifier`].
///
/// Per arrival: ask `bytes_needed()`; 0 means decide from state alone,
/// without reading. Otherwise peek exactly that many bytes (waiting up to
/// `peek_timeout`, since the peer is certain to send them), classify, and
/// on `NeedMore(n)` peek `n` and classify again. On `MaybeSilent(n)` look
/// only at what has already arrived; if it is not enough, park the
/// connection: the relay asks again after the next decision.
pub struct LegacyIdentify {
    classifier: Classifier,
    /// How long to wait for bytes the classifier is owed.
    pub peek_timeout: Duration,
    steps: Steps,
}

impl LegacyIdentify {
    /// A hook for `cfg` (refused as [`Classifier::new`] refuses it), and a
    /// handle on the steps it takes.
    pub fn new(cfg: LegacyConfig) -> Result<(Self, Steps), accord_core::Error> {
        let steps = Arc::new(Mutex::new(Vec::new()));
        Ok((
            LegacyIdentify {
                classifier: Classifier::new(cfg)?,
                peek_timeout: Duration::from_secs(5),
                steps: steps.clone(),
            },
            steps,
        ))
    }

    fn log(&self, step: Step) {
        self.steps
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(step);
    }
}

impl Identify for LegacyIdentify {
    fn identify(&mut self, a: &mut Arrival<'_>) -> Verdict {
        let index = a.index();
        let needed = self.classifier.bytes_needed();
        let silent = self.classifier.may_be_silent();
        let mut want = needed;
        // Bounded: each round asks for strictly more bytes (4, then 64).
        for _ in 0..4 {
            let seen = if want == 0 {
                Vec::new()
            } else if silent {
                match a.peek_now(want) {
                    Ok(b) => b.to_vec(),
                    Err(e) => return Channel::Unknown(format!("peek: {e}")).into(),
                }
            } else {
                match a.peek(want, self.peek_timeout) {
                    Ok(b) => b.to_vec(),
                    Err(e) => return Channel::Unknown(format!("peek: {e}")).into(),
                }
            };
            let answer = self.classifier.classify(&seen);
            self.log(Step {
                index,
                needed,
                given: seen.len(),
                answer: answer.clone().map_err(|e| e.to_string()),
            });
            match answer {
                Ok(Decision::Main) => return Channel::Main.into(),
                Ok(Decision::Multifd { id }) => return Channel::Multifd { id: Some(id) }.into(),
                Ok(Decision::Preempt) => return Channel::Preempt.into(),
                // Looked at what has arrived; not enough: do not wait.
                Ok(Decision::MaybeSilent(n)) if want >= n => return Verdict::Park,
                // Waited for what the peer owes; it did not come.
                Ok(Decision::NeedMore(n)) if want >= n => {
                    return Channel::Unknown(format!(
                        "only {} of {n} bytes within {:?}{}",
                        seen.len(),
                        self.peek_timeout,
                        if a.source_closed() { " (closed)" } else { "" }
                    ))
                    .into()
                }
                Ok(Decision::MaybeSilent(n)) | Ok(Decision::NeedMore(n)) => want = n,
                Err(e) => return Channel::Unknown(e.to_string()).into(),
            }
        }
        Channel::Unknown("the classifier kept asking for more bytes".into()).into()
    }
}
