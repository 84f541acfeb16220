//! Reading the client's input: command lines, SASL response lines, DATA and BDAT content, and
//! what each command does to the session.

use bytes::{Bytes, BytesMut};
use mailwright_sansio::Secret;

use super::{
    AbortReason, AuthStep, CloseReason, Event, HeloKind, Mode, Pending, Phase, ServerSession, Txn,
};
use crate::data::DataDecoder;
use crate::parse::{MalformedKind, command_line, excerpt};
use crate::types::reply::r;
use crate::types::text::base64_decode;
use crate::types::{
    BodyType, Capability, Command, EhloResponse, ForwardPath, Host, MailParameters, Mechanism,
    Params, RcptParameters, Reply, ReversePath,
};

fn reply_bdat_ok(n: u64) -> Reply {
    r(250, (2, 0, 0), &format!("{n} octets received"))
}

impl ServerSession {
    pub(super) fn helo_reply(&self, kind: HeloKind) -> Reply {
        let name = &self.config.hostname;
        if kind == HeloKind::Helo {
            return Reply::new(250, None, name).unwrap_or_else(|_| Reply::ok());
        }
        let x = &self.config.extensions;
        let mut caps = Vec::new();
        if x.pipelining {
            caps.push(Capability::Pipelining);
        }
        caps.push(Capability::Size(
            self.config.limits.max_message_size.or(Some(0)),
        ));
        if x.eight_bit_mime {
            caps.push(Capability::EightBitMime);
        }
        if x.chunking {
            caps.push(Capability::Chunking);
            if x.binary_mime {
                caps.push(Capability::BinaryMime);
            }
        }
        if x.smtputf8 {
            caps.push(Capability::SmtpUtf8);
        }
        if x.enhanced_status_codes {
            caps.push(Capability::EnhancedStatusCodes);
        }
        if x.dsn {
            caps.push(Capability::Dsn);
        }
        if self.starttls_offered() {
            caps.push(Capability::StartTls);
        }
        if self.auth_offered() && !self.authenticated {
            caps.push(Capability::Auth(x.auth.clone()));
        }
        if x.requiretls && self.tls_active {
            caps.push(Capability::RequireTls);
        }
        EhloResponse {
            domain: name.clone(),
            greeting: None,
            capabilities: caps,
        }
        .to_reply()
    }

    /// Works through the buffered input until it is used up, a decision is pending, a reply is
    /// held back or the session ends.
    pub(super) fn process(&mut self) {
        loop {
            if self.shutdown && self.pending.is_none() && !matches!(self.phase, Phase::Tls) {
                if matches!(self.phase, Phase::Data(_) | Phase::Bdat { .. }) {
                    self.events
                        .push_back(Event::DataAborted(AbortReason::Shutdown));
                }
                self.send(r(
                    421,
                    (4, 3, 2),
                    &format!("{} Service shutting down", self.config.hostname),
                ));
                return self.close(CloseReason::Shutdown);
            }
            if self.pending.is_some() || self.hold.is_some() {
                return;
            }
            let progressed = match self.phase {
                Phase::Closed | Phase::Tls => false,
                Phase::Data(_) => self.process_data(),
                Phase::Bdat { .. } => self.process_bdat(),
                Phase::Auth(step) => self.process_auth(step),
                Phase::Command => self.process_command(),
            };
            if !progressed {
                return;
            }
        }
    }

    fn process_data(&mut self) -> bool {
        if self.input.is_empty() {
            return false;
        }
        let Phase::Data(dec) = &mut self.phase else {
            return false;
        };
        // The content is a slice of `input` when nothing was unstuffed (no copy).
        let res = dec.decode_chunk(&mut self.input);
        let too_long = dec.line_too_long();
        match res {
            Err(e) => {
                self.events
                    .push_back(Event::DataAborted(AbortReason::BareLineEnding(e)));
                self.send(r(550, (5, 5, 2), &format!("Error: {e}; message rejected")));
                self.close(CloseReason::BareLineEnding);
                false
            }
            Ok((d, content)) => {
                self.body_chunk(content);
                if d.end {
                    self.finish_body(too_long);
                }
                true
            }
        }
    }

    fn body_chunk(&mut self, chunk: Bytes) {
        self.body_size += chunk.len() as u64;
        if self
            .config
            .limits
            .max_message_size
            .is_some_and(|m| self.body_size > m)
        {
            self.body_over = true;
        }
        if !self.body_over && !chunk.is_empty() {
            self.events.push_back(Event::DataChunk(chunk));
        }
    }

    fn finish_body(&mut self, too_long: bool) {
        if self.body_over {
            self.events
                .push_back(Event::DataAborted(AbortReason::TooBig));
            self.send(r(
                552,
                (5, 3, 4),
                "Error: message exceeds fixed maximum message size",
            ));
            self.end_message();
        } else if too_long {
            self.events
                .push_back(Event::DataAborted(AbortReason::LineTooLong));
            self.send(r(
                550,
                (5, 6, 0),
                "Error: message has a line longer than allowed",
            ));
            self.end_message();
        } else {
            self.events.push_back(Event::DataEnd);
            self.pending = Some(Pending::DataEnd);
        }
    }

    fn process_bdat(&mut self) -> bool {
        let Phase::Bdat {
            remaining,
            last,
            valid,
        } = self.phase
        else {
            return false;
        };
        if remaining > 0 && self.input.is_empty() {
            return false;
        }
        let take = remaining.min(self.input.len() as u64) as usize;
        let chunk = self.input.split_to(take).freeze();
        let remaining = remaining - take as u64;
        self.phase = Phase::Bdat {
            remaining,
            last,
            valid,
        };
        if valid {
            self.body_chunk(chunk);
        }
        if remaining > 0 {
            return true;
        }
        self.phase = Phase::Command;
        if !valid {
            return true;
        }
        if self.body_over {
            // RFC 3030 §2: the chunk is read, then the failure is reported; the transaction ends.
            self.events
                .push_back(Event::DataAborted(AbortReason::TooBig));
            self.fail(r(
                552,
                (5, 3, 4),
                "Error: message exceeds fixed maximum message size",
            ));
            self.end_message();
        } else if last {
            self.finish_body(false);
        } else {
            let size = self.body_size;
            self.send(reply_bdat_ok(size));
        }
        true
    }

    fn take_line(&mut self, max: usize) -> Option<Result<BytesMut, ()>> {
        if self.discarding_line {
            match memchr::memchr(b'\n', &self.input) {
                None => {
                    self.input.clear();
                    return None;
                }
                Some(p) => {
                    let _ = self.input.split_to(p + 1);
                    self.discarding_line = false;
                    self.line_taken();
                    return Some(Err(()));
                }
            }
        }
        match memchr::memchr(b'\n', &self.input) {
            None => {
                if self.input.len() >= max {
                    self.discarding_line = true;
                    self.input.clear();
                }
                None
            }
            Some(p) if p + 1 > max => {
                let _ = self.input.split_to(p + 1);
                self.line_taken();
                Some(Err(()))
            }
            Some(p) => {
                self.line_taken();
                let mut line = self.input.split_to(p + 1);
                line.truncate(p);
                if line.last() == Some(&b'\r') {
                    line.truncate(p - 1);
                }
                Some(Ok(line))
            }
        }
    }

    fn process_auth(&mut self, step: AuthStep) -> bool {
        let line = match self.take_line(self.config.limits.max_auth_line) {
            None => return false,
            Some(Err(())) => {
                self.phase = Phase::Command;
                self.fail(r(500, (5, 5, 6), "Error: authentication line too long"));
                return true;
            }
            Some(Ok(line)) => line,
        };
        // RFC 4954 §4: "*" cancels the exchange with a 501.
        if &line[..] == b"*" {
            self.phase = Phase::Command;
            self.events.push_back(Event::AuthCancelled);
            self.fail(r(501, (5, 7, 0), "Authentication cancelled"));
            return true;
        }
        let Some(data) = base64_decode(&line) else {
            self.phase = Phase::Command;
            self.fail(r(501, (5, 5, 2), "Error: invalid base64 data"));
            return true;
        };
        self.auth_data(step, data);
        true
    }

    fn auth_data(&mut self, step: AuthStep, data: Vec<u8>) {
        let mechanism = self.mechanism.clone().unwrap_or_else(Mechanism::plain);
        match step {
            AuthStep::PlainResponse => {
                // RFC 4616 §2: message = [authzid] UTF8NUL authcid UTF8NUL passwd
                let mut parts = data.split(|&c| c == 0);
                let (Some(z), Some(u), Some(p), None) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    self.phase = Phase::Command;
                    return self.fail(r(501, (5, 5, 2), "Error: malformed PLAIN response"));
                };
                let (Ok(z), Ok(u), Ok(p)) = (
                    std::str::from_utf8(z),
                    std::str::from_utf8(u),
                    std::str::from_utf8(p),
                ) else {
                    self.phase = Phase::Command;
                    return self.fail(r(501, (5, 5, 2), "Error: PLAIN response is not UTF-8"));
                };
                self.events.push_back(Event::AuthCredentials {
                    mechanism,
                    authzid: (!z.is_empty()).then(|| z.to_owned()),
                    username: u.to_owned(),
                    password: Secret::new(p.to_owned()),
                });
                self.pending = Some(Pending::AuthCredentials);
            }
            AuthStep::LoginUser => {
                self.login_user = String::from_utf8_lossy(&data).into_owned();
                self.send_raw_334("UGFzc3dvcmQ6");
                self.phase = Phase::Auth(AuthStep::LoginPassword);
            }
            AuthStep::LoginPassword => {
                self.events.push_back(Event::AuthCredentials {
                    mechanism,
                    authzid: None,
                    username: std::mem::take(&mut self.login_user),
                    password: Secret::new(String::from_utf8_lossy(&data).into_owned()),
                });
                self.pending = Some(Pending::AuthCredentials);
            }
            AuthStep::Generic => {
                self.events
                    .push_back(Event::AuthResponse(Secret::new(data)));
                self.pending = Some(Pending::AuthExchange);
            }
        }
    }

    fn process_command(&mut self) -> bool {
        let max = self.config.limits.max_command_line;
        let line = match self.take_line(max) {
            None => return false,
            Some(Err(())) if self.refusing => {
                self.refuse();
                return true;
            }
            Some(Err(())) => {
                self.fail(r(500, (5, 5, 2), "Error: line too long"));
                return true;
            }
            Some(Ok(line)) => line,
        };
        if self.refusing {
            // RFC 5321 §3.1: after a 554 greeting, wait for QUIT and answer 503 to anything else.
            match command_line(&line) {
                Ok(Command::Quit) => self.quit(),
                _ => self.refuse(),
            }
            return true;
        }
        let more_buffered = !self.input.is_empty();
        let parsed = command_line(&line);
        if let Err(kind) = parsed {
            self.events.push_back(Event::Malformed {
                kind,
                excerpt: excerpt(&line),
            });
        }
        match parsed {
            Ok(cmd) => self.command(cmd, more_buffered),
            Err(MalformedKind::UnknownCommand) => {
                self.fail(r(500, (5, 5, 2), "Error: command not recognized"));
            }
            Err(MalformedKind::Parameter) => {
                self.fail(r(501, (5, 5, 4), "Error: bad parameter syntax"));
            }
            Err(_) => self.malformed(&line),
        }
        true
    }

    /// A known command whose arguments do not parse, answered as Postfix's smtpd does where
    /// the RFCs leave the choice.
    fn malformed(&mut self, line: &[u8]) {
        let verb = line.split(|&b| b == b' ').next().unwrap_or_default();
        let args = line.get(verb.len() + 1..).unwrap_or_default();
        let is = |v: &str| verb.eq_ignore_ascii_case(v.as_bytes());
        // RFC 3463: X.1.7 and X.1.3 name a bad sender and a bad recipient address; the 5.5.4 of
        // other syntax errors stays for a command whose `FROM:<` or `TO:<` is missing.
        let address = |prefix: &str| {
            args.len() > prefix.len()
                && args[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
                && args[prefix.len()..].trim_ascii_start().starts_with(b"<")
        };
        if is("BDAT") {
            // RFC 3030 §2: the chunk's octets follow the command at once. Without its size they
            // cannot be told from commands, so the session cannot go on (they would be read as
            // commands: a smuggling vector).
            self.send(r(521, (5, 5, 4), "Syntax: BDAT count [LAST]"));
            self.close(CloseReason::MalformedBdat);
        } else if is("QUIT") {
            // Words after QUIT are ignored (RFC 5321's QUIT takes none; Postfix says goodbye).
            self.quit();
        } else if is("MAIL") && address("FROM:") {
            self.fail(r(501, (5, 1, 7), "Bad sender address syntax"));
        } else if is("RCPT") && address("TO:") {
            self.fail(r(501, (5, 1, 3), "Bad recipient address syntax"));
        } else {
            self.fail(r(501, (5, 5, 4), "Error: syntax error in arguments"));
        }
    }

    fn refuse(&mut self) {
        self.fail(r(503, (5, 5, 1), "Error: service unavailable"));
    }

    fn quit(&mut self) {
        self.send(r(221, (2, 0, 0), "Bye"));
        self.close(None);
        self.events.push_back(Event::Quit);
    }

    fn improper_pipelining(&mut self, verb: &str) {
        self.send(r(
            554,
            (5, 5, 0),
            &format!("Error: improper command pipelining after {verb}"),
        ));
        self.close(CloseReason::ImproperPipelining);
    }

    fn command(&mut self, cmd: Command, more_buffered: bool) {
        self.commands += 1;
        if self.commands > self.config.limits.max_commands_before_data {
            self.send(r(
                421,
                (4, 7, 0),
                &format!("{} Error: too many commands", self.config.hostname),
            ));
            return self.close(CloseReason::TooManyCommands);
        }
        let lmtp = self.config.mode == Mode::Lmtp;
        // RFC 2920 §3.1: EHLO and DATA end a group; anything sent after them unread is improper.
        let group_end = matches!(
            cmd,
            Command::Ehlo(_) | Command::Helo(_) | Command::Lhlo(_) | Command::Data
        );
        if self.config.strict_pipelining && group_end && more_buffered {
            return self.improper_pipelining(cmd.verb());
        }
        match cmd {
            Command::Ehlo(host) if !lmtp => self.helo_event(HeloKind::Ehlo, host),
            Command::Helo(host) if !lmtp => self.helo_event(HeloKind::Helo, host),
            Command::Lhlo(host) if lmtp => self.helo_event(HeloKind::Lhlo, host),
            Command::Ehlo(_) | Command::Helo(_) => self.fail(r(500, (5, 5, 1), "Error: use LHLO")),
            Command::Lhlo(_) => self.fail(r(500, (5, 5, 2), "Error: command not recognized")),
            Command::Mail { from, params } => self.mail(from, params),
            Command::Rcpt { to, params } => self.rcpt(to, params),
            Command::Data => self.data(),
            Command::Bdat { size, last } => self.bdat(size, last),
            Command::Rset => {
                self.reset_txn();
                self.send(r(250, (2, 0, 0), "OK"));
            }
            Command::Noop(_) => self.send(r(250, (2, 0, 0), "OK")),
            Command::Quit => self.quit(),
            // RFC 5321 §3.5.3: 252 when the server will not verify but will accept.
            Command::Vrfy(_) => self.send(r(
                252,
                (2, 5, 2),
                "Cannot VRFY user, but will accept message",
            )),
            Command::Expn(_) => self.fail(r(502, (5, 5, 1), "Error: EXPN not available")),
            Command::Help(_) => self.send(r(214, (2, 0, 0), "See RFC 5321")),
            Command::StartTls => self.starttls(),
            Command::Auth {
                mechanism,
                initial_response,
            } => self.auth(mechanism, initial_response),
        }
    }

    fn bad_sequence(&mut self, text: &str) {
        self.fail(r(503, (5, 5, 1), text));
    }

    fn helo_event(&mut self, kind: HeloKind, host: Host) {
        self.events.push_back(Event::Helo { kind, host });
        self.pending = Some(Pending::Helo(kind));
    }

    fn mail(&mut self, from: ReversePath, params: Params<MailParameters>) {
        if self.helo.is_none() {
            return self.bad_sequence("Error: send HELO/EHLO first");
        }
        if self.txn != Txn::None {
            return self.bad_sequence("Error: nested MAIL command");
        }
        if self.config.mode == Mode::Submission && !self.authenticated {
            return self.fail(r(530, (5, 7, 0), "Authentication required"));
        }
        let x = &self.config.extensions;
        let esmtp = self.helo != Some(HeloKind::Helo);
        let unsupported = !params.other.is_empty()
            || (!esmtp && !params.is_empty())
            || (params.smtputf8 && !x.smtputf8)
            || (params.body == Some(BodyType::EightBitMime) && !x.eight_bit_mime)
            || (params.body == Some(BodyType::BinaryMime) && !(x.binary_mime && x.chunking))
            || ((params.ret.is_some() || params.envid.is_some()) && !x.dsn)
            || (params.requiretls && !(x.requiretls && self.tls_active))
            || (params.auth.is_some() && !self.auth_offered());
        if unsupported {
            return self.fail(r(555, (5, 5, 4), "Error: unsupported MAIL parameter"));
        }
        // RFC 1870 §6.2: refuse early when the announced size is over the limit.
        if let (Some(size), Some(max)) = (params.size, self.config.limits.max_message_size)
            && size > max
        {
            return self.fail(r(
                552,
                (5, 3, 4),
                "Error: message size exceeds fixed maximum message size",
            ));
        }
        // RFC 6531 §3.4: UTF-8 addresses need the SMTPUTF8 parameter.
        if matches!(&from, ReversePath::Mailbox(m) if m.is_utf8()) && !params.smtputf8 {
            return self.fail(r(553, (5, 6, 7), "Error: UTF-8 address without SMTPUTF8"));
        }
        self.events.push_back(Event::Mail { from, params });
        self.pending = Some(Pending::Mail);
    }

    fn rcpt(&mut self, to: ForwardPath, params: Params<RcptParameters>) {
        if self.txn == Txn::None {
            return self.bad_sequence("Error: need MAIL command");
        }
        if self.rcpts >= self.config.limits.max_recipients {
            // RFC 5321 §4.5.3.1.10: the client must be able to go on with the recipients it
            // has, so this is not counted as an error (Postfix does not either).
            return self.send(r(452, (4, 5, 3), "Error: too many recipients"));
        }
        let x = &self.config.extensions;
        if !params.other.is_empty()
            || ((params.notify.is_some() || params.orcpt.is_some()) && !x.dsn)
        {
            return self.fail(r(555, (5, 5, 4), "Error: unsupported RCPT parameter"));
        }
        if matches!(&to, ForwardPath::Mailbox(m) if m.is_utf8()) && !x.smtputf8 {
            return self.fail(r(553, (5, 6, 7), "Error: UTF-8 address not supported"));
        }
        self.events.push_back(Event::Rcpt { to, params });
        self.pending = Some(Pending::Rcpt);
    }

    fn data(&mut self) {
        match self.txn {
            Txn::None => self.bad_sequence("Error: need MAIL command"),
            Txn::Mail => self.fail(r(554, (5, 5, 1), "Error: no valid recipients")),
            Txn::Rcpt { bdat: true } => self.bad_sequence("Error: DATA after BDAT"),
            Txn::Rcpt { bdat: false } => {
                self.send(
                    Reply::new(354, None, "End data with <CR><LF>.<CR><LF>")
                        .unwrap_or_else(|_| Reply::ok()),
                );
                self.events.push_back(Event::DataStart);
                self.transferring = true;
                let l = &self.config.limits;
                self.phase = Phase::Data(DataDecoder::new(
                    self.config.bare_line_ending,
                    l.max_text_line,
                ));
            }
        }
    }

    fn bdat(&mut self, size: u64, last: bool) {
        // RFC 3030 §2: the chunk is always read, even when the command fails.
        let valid = match self.txn {
            Txn::Rcpt { .. } if self.config.extensions.chunking => true,
            Txn::Rcpt { .. } => {
                self.fail(r(502, (5, 5, 1), "Error: CHUNKING not offered"));
                false
            }
            Txn::None => {
                self.bad_sequence("Error: need MAIL command");
                false
            }
            Txn::Mail => {
                self.fail(r(554, (5, 5, 1), "Error: no valid recipients"));
                false
            }
        };
        if valid {
            if self.txn == (Txn::Rcpt { bdat: false }) {
                self.events.push_back(Event::DataStart);
                self.transferring = true;
            }
            self.txn = Txn::Rcpt { bdat: true };
        }
        self.phase = Phase::Bdat {
            remaining: size,
            last,
            valid,
        };
    }

    fn starttls(&mut self) {
        if self.tls_active {
            return self.bad_sequence("Error: TLS already active");
        }
        if !self.config.extensions.starttls {
            return self.fail(r(502, (5, 5, 1), "Error: STARTTLS not offered"));
        }
        self.send(r(220, (2, 0, 0), "Ready to start TLS"));
        // RFC 3207 §5 and CVE-2011-0411: nothing received before the handshake may be used.
        let discarded = self.input.len();
        self.input.clear();
        self.phase = Phase::Tls;
        self.events.push_back(Event::StartTls { discarded });
    }

    fn auth(&mut self, mechanism: Mechanism, initial: Option<Vec<u8>>) {
        if !self.auth_offered() {
            if self.config.extensions.auth.is_empty() {
                return self.fail(r(502, (5, 5, 1), "Error: authentication not enabled"));
            }
            return self.fail(r(538, (5, 7, 11), "Error: authentication requires TLS"));
        }
        if self.helo.is_none() {
            return self.bad_sequence("Error: send HELO/EHLO first");
        }
        if self.authenticated {
            return self.bad_sequence("Error: already authenticated");
        }
        if self.txn != Txn::None {
            return self.bad_sequence("Error: AUTH not allowed during a mail transaction");
        }
        if !self.config.extensions.auth.contains(&mechanism) {
            return self.fail(r(
                504,
                (5, 5, 4),
                "Error: unsupported authentication mechanism",
            ));
        }
        self.mechanism = Some(mechanism.clone());
        match (mechanism.as_str(), initial) {
            ("PLAIN", Some(data)) => self.auth_data(AuthStep::PlainResponse, data),
            ("PLAIN", None) => {
                self.send_raw_334("");
                self.phase = Phase::Auth(AuthStep::PlainResponse);
            }
            ("LOGIN", Some(user)) => self.auth_data(AuthStep::LoginUser, user),
            ("LOGIN", None) => {
                self.send_raw_334("VXNlcm5hbWU6");
                self.phase = Phase::Auth(AuthStep::LoginUser);
            }
            (_, initial_response) => {
                self.events.push_back(Event::AuthStart {
                    mechanism,
                    initial_response: initial_response.map(Secret::new),
                });
                self.pending = Some(Pending::AuthExchange);
            }
        }
    }
}
