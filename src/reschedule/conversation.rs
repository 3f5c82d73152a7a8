//! The rescheduling conversation as a pure state machine: what each input does in each
//! state, and what has to happen as a result (messages to the customer, requests to
//! staff, the appointment moved). The caller stores the state and carries out the
//! effects; replaying an input the machine has already seen changes nothing.
//!
//! ```text
//!  Offered ──choose──► Requested ──staff accept──► Accepted
//!     │  ╲                │  ▲ choose another
//!     │   ╲none fit       │  └─────┘
//!     │    ╰──► CallBack ─┘ choose (still in time)
//!     │                   └──staff decline──► Declined
//!     └── the window closes, or the appointment moves ──► Expired
//! ```

use chrono::{DateTime, Utc};

use super::availability::Slot;

/// Where a conversation stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Times were offered; the customer has not chosen.
    Offered,
    /// The customer chose a time; staff have to accept or decline it.
    Requested(Slot),
    /// None of the offered times suits the customer: staff call them.
    CallBack,
    /// Staff accepted the requested time: the appointment moves there.
    Accepted(Slot),
    /// Staff declined the requested time.
    Declined,
    /// The offer ran out (the service window closed) or the appointment moved.
    Expired,
}

/// One conversation about one appointment, as it was when the times were offered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conversation {
    pub appointment_id: i64,
    /// The appointment's start when the times were offered: a conversation about an
    /// appointment that has moved since is over.
    pub appointment_start: DateTime<Utc>,
    pub offered: Vec<Slot>,
    /// The customer can choose until then (the end of the 24-hour service window).
    pub expires_at: DateTime<Utc>,
    pub state: State,
}

/// What happens to a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// The customer picked the offered time starting at this moment.
    Choose(DateTime<Utc>),
    /// The customer picked "Geen van deze tijden".
    NoneFits,
    StaffAccept,
    StaffDecline,
    /// Time passes (the caller looks now and then).
    Tick,
}

/// What must happen because of an input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Ask staff to accept or decline this time (shown in the report).
    AskStaff(Slot),
    /// Ask staff to call the customer.
    AskStaffToCall,
    /// Move the appointment to this time.
    Move(Slot),
    /// Tell the customer something.
    Tell(Message),
}

/// What the customer is told; the texts are configured (Dutch by default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// "We hebben je verzoek voor {slot} ontvangen; de praktijk bevestigt het."
    RequestReceived(Slot),
    /// "We bellen je om een nieuwe tijd af te spreken."
    WillCall,
    /// "Je afspraak is verzet naar {slot}."
    Accepted(Slot),
    /// "Die tijd kan helaas niet; we nemen contact met je op."
    Declined,
    /// "Deze keuze is verlopen; bel ons voor een nieuwe tijd." (a late answer)
    Expired,
    /// "Je afspraak is inmiddels verplaatst naar {current}." (the offer was for an
    /// older time)
    AppointmentMoved(DateTime<Utc>),
    /// "Die tijd hebben we niet aangeboden; kies uit de lijst." (a tampered or stale row)
    UnknownChoice,
    /// "Over je verzoek is al beslist: {slot}." / "…: niet gelukt."
    AlreadyDecided,
}

/// Why an input does not apply (the caller logs it; nothing changes).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("there is no requested time to accept or decline")]
    NothingToDecide,
    #[error("staff already decided")]
    AlreadyDecided,
}

impl Conversation {
    /// The conversation after `input` at `now`, with what must happen.
    /// `appointment_start` is the appointment's current start.
    pub fn step(
        &self,
        input: &Input,
        now: DateTime<Utc>,
        appointment_start: DateTime<Utc>,
    ) -> Result<(Conversation, Vec<Effect>), Refused> {
        let to = |state: State| Conversation { state, ..self.clone() };
        let unchanged = || (self.clone(), Vec::new());
        let moved = appointment_start != self.appointment_start;
        let open = now < self.expires_at && !moved;
        match (&self.state, input) {
            // the appointment moved: whatever the customer picks from the old list, the
            // answer is the current time
            (
                State::Offered | State::Requested(_) | State::CallBack,
                Input::Choose(_) | Input::NoneFits,
            ) if moved => Ok((
                to(State::Expired),
                vec![Effect::Tell(Message::AppointmentMoved(appointment_start))],
            )),
            (State::Offered | State::CallBack, Input::Tick) if !open => {
                Ok((to(State::Expired), vec![]))
            }
            (_, Input::Tick) => Ok(unchanged()),
            (
                State::Offered | State::Requested(_) | State::CallBack,
                Input::Choose(_) | Input::NoneFits,
            ) if !open => {
                // a late answer: honest, and a request already with staff stands
                let state = match &self.state {
                    State::Requested(slot) => State::Requested(slot.clone()),
                    _ => State::Expired,
                };
                Ok((to(state), vec![Effect::Tell(Message::Expired)]))
            }
            (State::Offered | State::Requested(_) | State::CallBack, Input::Choose(start)) => {
                let Some(slot) = self.offered.iter().find(|s| s.start == *start) else {
                    return Ok((self.clone(), vec![Effect::Tell(Message::UnknownChoice)]));
                };
                if self.state == State::Requested(slot.clone()) {
                    // the same choice again (Meta redelivered, or a double tap)
                    return Ok(unchanged());
                }
                Ok((
                    to(State::Requested(slot.clone())),
                    vec![
                        Effect::AskStaff(slot.clone()),
                        Effect::Tell(Message::RequestReceived(slot.clone())),
                    ],
                ))
            }
            (State::Offered | State::Requested(_), Input::NoneFits) => Ok((
                to(State::CallBack),
                vec![Effect::AskStaffToCall, Effect::Tell(Message::WillCall)],
            )),
            (State::CallBack, Input::NoneFits) => Ok(unchanged()),
            (State::Requested(slot), Input::StaffAccept) => Ok((
                to(State::Accepted(slot.clone())),
                vec![Effect::Move(slot.clone()), Effect::Tell(Message::Accepted(slot.clone()))],
            )),
            (State::Requested(_), Input::StaffDecline) => {
                Ok((to(State::Declined), vec![Effect::Tell(Message::Declined)]))
            }
            (
                State::Offered | State::CallBack | State::Expired,
                Input::StaffAccept | Input::StaffDecline,
            ) => Err(Refused::NothingToDecide),
            (State::Accepted(_) | State::Declined, Input::StaffAccept | Input::StaffDecline) => {
                Err(Refused::AlreadyDecided)
            }
            (State::Accepted(_) | State::Declined, Input::Choose(_) | Input::NoneFits) => {
                Ok((self.clone(), vec![Effect::Tell(Message::AlreadyDecided)]))
            }
            (State::Expired, Input::Choose(_) | Input::NoneFits) => {
                Ok((self.clone(), vec![Effect::Tell(Message::Expired)]))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn slot(start: &str) -> Slot {
        Slot { start: at(start), end: at(start) + Duration::minutes(30), label: None }
    }

    const START: &str = "2026-10-14T08:30:00Z";
    const A: &str = "2026-10-15T07:00:00Z";
    const B: &str = "2026-10-15T09:30:00Z";
    const OFFERED_AT: &str = "2026-10-13T10:00:00Z";

    fn conversation(state: State) -> Conversation {
        Conversation {
            appointment_id: 7,
            appointment_start: at(START),
            offered: vec![slot(A), slot(B)],
            expires_at: at(OFFERED_AT) + Duration::hours(24),
            state,
        }
    }

    /// (state, input, when, the appointment's start now, the next state or the
    /// refusal, the effects)
    type Case = (State, Input, &'static str, &'static str, Result<State, Refused>, Vec<Effect>);

    /// Every state against every input, in time and after.
    #[test]
    fn every_transition() {
        use Effect::*;
        use Input::*;
        use Message::*;
        let soon = "2026-10-13T10:05:00Z";
        let late = "2026-10-14T10:01:00Z";
        let moved_to = "2026-10-14T12:00:00Z";
        let requested_a = State::Requested(slot(A));
        let cases: Vec<Case> = vec![
            // the customer chooses
            (
                State::Offered,
                Choose(at(A)),
                soon,
                START,
                Ok(requested_a.clone()),
                vec![AskStaff(slot(A)), Tell(RequestReceived(slot(A)))],
            ),
            (
                State::Offered,
                Choose(at("2026-10-15T06:00:00Z")),
                soon,
                START,
                Ok(State::Offered),
                vec![Tell(UnknownChoice)],
            ),
            (
                State::Offered,
                NoneFits,
                soon,
                START,
                Ok(State::CallBack),
                vec![AskStaffToCall, Tell(WillCall)],
            ),
            // duplicates and second thoughts
            (requested_a.clone(), Choose(at(A)), soon, START, Ok(requested_a.clone()), vec![]),
            (
                requested_a.clone(),
                Choose(at(B)),
                soon,
                START,
                Ok(State::Requested(slot(B))),
                vec![AskStaff(slot(B)), Tell(RequestReceived(slot(B)))],
            ),
            (
                requested_a.clone(),
                NoneFits,
                soon,
                START,
                Ok(State::CallBack),
                vec![AskStaffToCall, Tell(WillCall)],
            ),
            (State::CallBack, NoneFits, soon, START, Ok(State::CallBack), vec![]),
            // out of order: "none fits" first, then a time after all
            (
                State::CallBack,
                Choose(at(B)),
                soon,
                START,
                Ok(State::Requested(slot(B))),
                vec![AskStaff(slot(B)), Tell(RequestReceived(slot(B)))],
            ),
            // staff decide, also after the window closed
            (
                requested_a.clone(),
                StaffAccept,
                late,
                START,
                Ok(State::Accepted(slot(A))),
                vec![Move(slot(A)), Tell(Accepted(slot(A)))],
            ),
            (
                requested_a.clone(),
                StaffDecline,
                soon,
                START,
                Ok(State::Declined),
                vec![Tell(Declined)],
            ),
            (State::Offered, StaffAccept, soon, START, Err(Refused::NothingToDecide), vec![]),
            (State::CallBack, StaffDecline, soon, START, Err(Refused::NothingToDecide), vec![]),
            (State::Expired, StaffAccept, soon, START, Err(Refused::NothingToDecide), vec![]),
            (
                State::Accepted(slot(A)),
                StaffDecline,
                soon,
                START,
                Err(Refused::AlreadyDecided),
                vec![],
            ),
            (State::Declined, StaffAccept, soon, START, Err(Refused::AlreadyDecided), vec![]),
            (
                State::Accepted(slot(A)),
                Choose(at(B)),
                soon,
                START,
                Ok(State::Accepted(slot(A))),
                vec![Tell(AlreadyDecided)],
            ),
            (
                State::Declined,
                NoneFits,
                soon,
                START,
                Ok(State::Declined),
                vec![Tell(AlreadyDecided)],
            ),
            // expiry
            (State::Offered, Tick, soon, START, Ok(State::Offered), vec![]),
            (State::Offered, Tick, late, START, Ok(State::Expired), vec![]),
            (State::CallBack, Tick, late, START, Ok(State::Expired), vec![]),
            (requested_a.clone(), Tick, late, START, Ok(requested_a.clone()), vec![]),
            (State::Offered, Choose(at(A)), late, START, Ok(State::Expired), vec![Tell(Expired)]),
            (
                requested_a.clone(),
                Choose(at(B)),
                late,
                START,
                Ok(requested_a.clone()),
                vec![Tell(Expired)],
            ),
            (State::Expired, Choose(at(A)), soon, START, Ok(State::Expired), vec![Tell(Expired)]),
            // the appointment moved since the times were offered
            (
                State::Offered,
                Choose(at(A)),
                soon,
                moved_to,
                Ok(State::Expired),
                vec![Tell(AppointmentMoved(at(moved_to)))],
            ),
            (
                State::CallBack,
                NoneFits,
                soon,
                moved_to,
                Ok(State::Expired),
                vec![Tell(AppointmentMoved(at(moved_to)))],
            ),
            (State::Offered, Tick, soon, moved_to, Ok(State::Expired), vec![]),
        ];
        for (state, input, now, start, expected, effects) in cases {
            let label = format!("{state:?} + {input:?} at {now}");
            let result = conversation(state).step(&input, at(now), at(start));
            match (result, expected) {
                (Ok((next, got)), Ok(want)) => {
                    assert_eq!(next.state, want, "{label}");
                    assert_eq!(got, effects, "{label}");
                }
                (Err(got), Err(want)) => assert_eq!(got, want, "{label}"),
                (got, want) => panic!("{label}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn replaying_every_input_twice_has_each_effect_once() {
        let inputs = [Input::Choose(at(A)), Input::Choose(at(A)), Input::StaffAccept];
        let mut c = conversation(State::Offered);
        let mut effects = Vec::new();
        for input in &inputs {
            let (next, e) = c.step(input, at("2026-10-13T10:05:00Z"), at(START)).unwrap();
            effects.extend(e);
            c = next;
        }
        assert_eq!(c.state, State::Accepted(slot(A)));
        assert_eq!(effects.iter().filter(|e| matches!(e, Effect::AskStaff(_))).count(), 1);
        assert_eq!(effects.iter().filter(|e| matches!(e, Effect::Move(_))).count(), 1);
    }
}
