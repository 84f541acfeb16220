//! Whether and what to reply (RFC 5230 §4, §5; RFC 3834 §2; RFC 6131).

use std::time::Duration;

use crate::address;
use crate::environment::VacationKey;
use crate::outcome::{NoReply, VacationReply};
use crate::program::VacationCmd;

use super::{Frame, Run};

/// RFC 2369 and RFC 2919: a message with one of these comes from a list.
const LIST_FIELDS: [&str; 7] = [
    "list-id",
    "list-owner",
    "list-subscribe",
    "list-post",
    "list-unsubscribe",
    "list-help",
    "list-archive",
];

/// RFC 5230 §4.5: the fields where the user's address shows that the message was sent to them.
const ADDRESSED_FIELDS: [&str; 6] = ["to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc"];

impl Run<'_> {
    pub(super) fn vacation(
        &mut self,
        frame: &Frame<'_>,
        v: &VacationCmd,
    ) -> Result<VacationReply, NoReply> {
        let limits = &self.caps.limits;
        let reason = self.expand(frame, &v.reason);
        let subject = v
            .subject
            .as_ref()
            .map(|s| self.expand(frame, s))
            .filter(|s| !s.is_empty());
        let from = v
            .from
            .as_ref()
            .map(|s| self.expand(frame, s))
            .filter(|s| !s.is_empty());
        let addresses: Vec<String> = v
            .addresses
            .iter()
            .filter_map(|a| address::validate_mailbox(&self.expand(frame, a)).ok())
            .collect();
        let mut period = match v.period {
            None => limits.vacation_default_period,
            Some((false, days)) => Duration::from_secs(days.saturating_mul(86_400)),
            Some((true, seconds)) => Duration::from_secs(seconds),
        };
        period = period.max(limits.vacation_min_period);
        if let Some(max) = limits.vacation_max_period {
            period = period.min(max);
        }
        // RFC 5230 §4.2: without :handle, one made of the script's reply, so that a changed
        // reply goes out again.
        let handle = match &v.handle {
            Some(h) => self.expand(frame, h),
            None => v.default_handle.clone(),
        };
        let sender = self.msg.envelope_from().to_owned();
        let recipient = self.msg.envelope_to().to_owned();
        let key = VacationKey {
            sender: sender.to_lowercase(),
            handle,
        };

        if sender.is_empty() {
            return Err(NoReply::NullSender);
        }
        let mut mine: Vec<String> = vec![recipient.clone()];
        mine.extend(addresses);
        mine.extend(self.env.user_addresses());
        if mine.iter().any(|m| m.eq_ignore_ascii_case(&sender)) {
            return Err(NoReply::OwnAddress);
        }
        let header = |name: &str| self.msg.header_raw(name);
        if LIST_FIELDS.iter().any(|f| !header(f).is_empty()) {
            return Err(NoReply::MailingList);
        }
        // RFC 3834 §5.1: anything but "no" is automatic.
        if header("auto-submitted").iter().any(|v| {
            !v.split(['(', ';', ' '])
                .next()
                .unwrap_or_default()
                .eq_ignore_ascii_case("no")
        }) {
            return Err(NoReply::AutoSubmitted);
        }
        if header("precedence").iter().any(|v| {
            ["bulk", "list", "junk"]
                .iter()
                .any(|p| v.trim().eq_ignore_ascii_case(p))
        }) {
            return Err(NoReply::Bulk);
        }
        if is_system_address(&sender) {
            return Err(NoReply::SystemAddress);
        }
        let addressed = ADDRESSED_FIELDS.iter().find_map(|f| {
            header(f).iter().find_map(|value| {
                address::parse_list(value).into_iter().find_map(|a| {
                    let all = a.all();
                    mine.iter().find(|m| m.eq_ignore_ascii_case(&all)).cloned()
                })
            })
        });
        let Some(reply_from) = addressed else {
            return Err(NoReply::NotAddressed);
        };
        let since = self
            .now
            .checked_sub(period)
            .unwrap_or(std::time::UNIX_EPOCH);
        if self.env.vacation_replied(&key, since) {
            return Err(NoReply::AlreadyReplied);
        }

        let subject = subject.unwrap_or_else(|| match self.msg.header("subject").first() {
            Some(s) => format!("Auto: {s}"),
            None => "Automated reply".to_owned(),
        });
        let message_id = header("message-id").into_iter().next();
        let references = header("references").into_iter().next();
        let references = match (references, &message_id) {
            (Some(r), Some(id)) => Some(format!("{r} {id}")),
            (r, id) => r.or_else(|| id.clone()),
        };
        Ok(VacationReply {
            to: sender,
            from: from.unwrap_or(reply_from),
            subject,
            body: reason,
            mime: v.mime,
            in_reply_to: message_id,
            references,
            period,
            key,
        })
    }
}

/// RFC 3834 §2 and Pigeonhole: addresses of software, never of a person on vacation's side.
fn is_system_address(sender: &str) -> bool {
    let lower = sender.to_ascii_lowercase();
    let local = lower.rsplit_once('@').map_or(lower.as_str(), |(l, _)| l);
    local.starts_with("mailer-daemon")
        || local.starts_with("listserv")
        || local.starts_with("majordomo")
        || local.ends_with("-request")
        || local.starts_with("owner-")
}
