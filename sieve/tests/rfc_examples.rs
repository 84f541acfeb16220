//! The examples of the RFCs this crate implements, quoted from their text, run against messages
//! that exercise them. Where an RFC example has an erratum (a stray comma, a misspelt command),
//! the test says so and runs the corrected script.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mailwright_sieve::{
    Action, Capabilities, Environment, NoReply, Outcome, ParsedMessage, Program, RuntimeErrorKind,
    Script, ScriptLocation, VacationKey,
};

/// A user's world: mailboxes, scripts, the vacation record, a time zone.
#[derive(Default)]
struct World {
    mailboxes: HashSet<String>,
    scripts: HashMap<(ScriptLocation, String), String>,
    replied: HashSet<VacationKey>,
    offset: i32,
}

impl Environment for World {
    fn mailbox_exists(&self, name: &str) -> bool {
        self.mailboxes.contains(name)
    }
    fn vacation_replied(&self, key: &VacationKey, _since: SystemTime) -> bool {
        self.replied.contains(key)
    }
    fn script(&self, location: ScriptLocation, name: &str) -> Option<String> {
        self.scripts.get(&(location, name.to_owned())).cloned()
    }
    fn utc_offset(&self, _at: SystemTime) -> i32 {
        self.offset
    }
}

/// 2005-08-05T17:31:00-07:00, a Friday: the date RFC 5260's examples use.
fn friday_evening() -> SystemTime {
    UNIX_EPOCH + Duration::from_mins(18_721_471)
}

fn compile(script: &str) -> Program {
    Program::compile(script, &Capabilities::all()).unwrap_or_else(|e| panic!("{e}\n{script}"))
}

/// The script as the printer writes it, checked to parse back to the same script.
fn reprinted(script: &str) -> String {
    let parsed = Script::parse(script).unwrap_or_else(|e| panic!("{e}\n{script}"));
    let text = parsed.to_string();
    let again = Script::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(again.syntax_eq(&parsed), "{script}\nprinted as\n{text}");
    text
}

/// Runs the script, and the script as printed, which must decide the same.
fn run_in(world: &World, script: &str, message: &str, from: &str, to: &str) -> Outcome {
    let msg = ParsedMessage::new(message.replace('\n', "\r\n").as_bytes()).with_envelope(from, to);
    let outcome = compile(script)
        .run(&msg, world, friday_evening())
        .unwrap_or_else(|e| panic!("{e}\n{script}"));
    let printed = reprinted(script);
    let again = compile(&printed)
        .run(&msg, world, friday_evening())
        .unwrap_or_else(|e| panic!("{e}\n{printed}"));
    assert_eq!(
        again, outcome,
        "the printed script decides otherwise:\n{printed}"
    );
    outcome
}

fn run(script: &str, message: &str) -> Outcome {
    run_in(
        &World::default(),
        script,
        message,
        "sender@example.org",
        "me@example.com",
    )
}

fn folders(outcome: &Outcome) -> Vec<String> {
    outcome
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Keep { .. } => Some("INBOX".to_owned()),
            Action::FileInto { mailbox, .. } => Some(mailbox.clone()),
            _ => None,
        })
        .collect()
}

fn redirects(outcome: &Outcome) -> Vec<String> {
    outcome
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Redirect { address, .. } => Some(address.clone()),
            _ => None,
        })
        .collect()
}

fn discarded(outcome: &Outcome) -> bool {
    outcome.actions == vec![Action::Discard]
}

fn vacation(outcome: &Outcome) -> Option<&mailwright_sieve::VacationReply> {
    outcome.actions.iter().find_map(|a| match a {
        Action::Vacation(v) => Some(v),
        _ => None,
    })
}

// ---------------------------------------------------------------------------------------------
// RFC 5228: Sieve

/// RFC 5228 §9, "Extended Example".
const RFC5228_EXTENDED: &str = r#"#
# Example Sieve Filter
# Declare any optional features or extension used by the script
#
require ["fileinto"];

#
# Handle messages from known mailing lists
# Move messages from IETF filter discussion list to filter mailbox
#
if header :is "Sender" "owner-ietf-mta-filters@imc.org"
        {
        fileinto "filter";  # move to "filter" mailbox
        }
#
# Keep all messages to or from people in my company
#
elsif address :DOMAIN :is ["From", "To"] "example.com"
        {
        keep;               # keep in "In" mailbox
        }

#
# Try and catch unsolicited email.  If a message is not to me,
# or it contains a subject known to be spam, file it away.
#
elsif anyof (NOT address :all :contains
               ["To", "Cc", "Bcc"] "me@example.com",
             header :matches "subject"
               ["*make*money*fast*", "*university*dipl*mas*"])
        {
        fileinto "spam";   # move to "spam" mailbox
        }
else
        {
        # Move all other (non-company) mail to "personal"
        # mailbox.
        fileinto "personal";
        }
"#;

#[test]
fn rfc5228_extended_example() {
    let list = "Sender: owner-ietf-mta-filters@imc.org\nTo: me@example.com\n\nx\n";
    assert_eq!(folders(&run(RFC5228_EXTENDED, list)), ["filter"]);
    let colleague = "From: boss@example.com\nTo: me@example.com\n\nx\n";
    assert_eq!(folders(&run(RFC5228_EXTENDED, colleague)), ["INBOX"]);
    let not_to_me = "From: a@example.net\nTo: you@example.net\n\nx\n";
    assert_eq!(folders(&run(RFC5228_EXTENDED, not_to_me)), ["spam"]);
    let spam = "From: a@example.net\nTo: l@example.net\nBcc: me@example.com\n\
                Subject: MAKE MONEY FAST now\n\nx\n";
    assert_eq!(folders(&run(RFC5228_EXTENDED, spam)), ["spam"]);
    let friend =
        "From: a@example.net\nTo: b@example.net\nCc: me@example.com\nSubject: lunch\n\nx\n";
    assert_eq!(folders(&run(RFC5228_EXTENDED, friend)), ["personal"]);
}

/// RFC 5228 §3.1, the example of "if".
#[test]
fn rfc5228_if_elsif_else() {
    let script = r#"if header :contains ["From"] ["coyote"] {
    redirect "acm@example.com";
} elsif header :contains "Subject" "$$$" {
    redirect "postmaster@example.com";
} else {
    redirect "field@example.com";
}"#;
    let coyote = "From: Wile E. Coyote <coyote@desert.example.org>\n\nx\n";
    assert_eq!(redirects(&run(script, coyote)), ["acm@example.com"]);
    let money = "From: x@example.org\nSubject: $$$ for you\n\nx\n";
    assert_eq!(redirects(&run(script, money)), ["postmaster@example.com"]);
    let other = "From: x@example.org\nSubject: hi\n\nx\n";
    let outcome = run(script, other);
    assert_eq!(redirects(&outcome), ["field@example.com"]);
    assert!(!outcome.keeps(), "redirect cancels the implicit keep");
}

/// RFC 5228 §4.1 (fileinto), §4.2 (redirect), §4.3 (keep), §4.4 (discard), §5.x tests.
#[test]
fn rfc5228_action_and_test_examples() {
    let coyote = "From: coyote@desert.example.org\nDate: Fri, 5 Aug 2005 17:31:00 -0700\n\nx\n";
    let script = r#"require "fileinto";
if header :contains ["from"] "coyote" {
    fileinto "INBOX.harassment";
}"#;
    assert_eq!(folders(&run(script, coyote)), ["INBOX.harassment"]);

    let outcome = run(r#"redirect "bart@example.com";"#, coyote);
    assert_eq!(redirects(&outcome), ["bart@example.com"]);

    assert_eq!(
        folders(&run(
            "if size :under 1M { keep; } else { discard; }",
            coyote
        )),
        ["INBOX"]
    );
    let idiot = "From: idiot@example.com\n\nx\n";
    assert!(discarded(&run(
        r#"if header :contains ["from"] ["idiot@example.com"] {
    discard;
}"#,
        idiot
    )));

    // §5.1
    let tim = "From: Tim <tim@example.com>\n\nx\n";
    assert!(discarded(&run(
        r#"if address :is :all "from" "tim@example.com" {
    discard;
}"#,
        tim
    )));
    // §5.4
    let msg = ParsedMessage::new(b"\r\nx\r\n").with_envelope("tim@example.com", "me@example.com");
    let envelope = compile(
        r#"require "envelope";
if envelope :all :is "from" "tim@example.com" {
    discard;
}"#,
    );
    assert!(discarded(
        &envelope
            .run(&msg, &World::default(), friday_evening())
            .unwrap()
    ));
    // §5.5
    let exists = r#"if not exists ["From","Date"] {
    discard;
}"#;
    assert!(discarded(&run(exists, "From: a@b.example\n\nx\n")));
    assert!(!discarded(&run(exists, coyote)));
    // §5.7: "if header :is ["X-Caffeine"] [""]" is true for an empty field, and a missing
    // field matches nothing.
    let caffeine = r#"require "fileinto";
if header :is ["X-Caffeine"] [""] { fileinto "empty"; }
if header :contains ["X-Caffeine"] [""] { fileinto "present"; }"#;
    assert_eq!(
        folders(&run(caffeine, "X-Caffeine:\n\nx\n")),
        ["empty", "present"]
    );
    assert_eq!(folders(&run(caffeine, "X-Other: 1\n\nx\n")), ["INBOX"]);
}

/// RFC 5228 §2.4.2.4: `"$${hex:24 24}"` is "$$$".
#[test]
fn rfc5228_encoded_character() {
    let script = r#"require "encoded-character";
if header :contains "Subject" "$${hex:24 24}" {
    discard;
}"#;
    assert!(discarded(&run(script, "Subject: win $$$ now\n\nx\n")));
    assert!(!discarded(&run(script, "Subject: win $$ now\n\nx\n")));
}

/// RFC 5228 §2.10.2: the implicit keep applies unless an action cancels it; §2.10.3: keeping
/// twice stores once.
#[test]
fn rfc5228_implicit_keep() {
    let o = run("", "Subject: x\n\nx\n");
    assert_eq!(
        o.actions,
        vec![Action::Keep {
            flags: vec![],
            implicit: true
        }]
    );
    let o = run(
        r#"require "fileinto"; keep; fileinto "INBOX"; keep;"#,
        "\nx\n",
    );
    assert_eq!(folders(&o), ["INBOX"]);
    assert_eq!(
        o.actions,
        vec![Action::Keep {
            flags: vec![],
            implicit: false
        }]
    );
}

// ---------------------------------------------------------------------------------------------
// RFC 5229: Variables

#[test]
fn rfc5229_set_and_references() {
    // §4: "${HONORIFIC}" names the variable "honorific".
    let script = r#"require ["variables", "vacation"];
set "honorific"  "Mr";
set "first_name" "Wile";
set "last_name"  "Coyote";
set "vacation" text:
Dear ${HONORIFIC} ${last_name},
I'm out, please leave a message after the meep.
.
;
vacation "${vacation}";"#;
    let o = run_in(
        &World::default(),
        script,
        "From: a@example.org\nTo: me@example.com\nSubject: s\n\nx\n",
        "a@example.org",
        "me@example.com",
    );
    assert_eq!(
        vacation(&o).unwrap().body,
        "Dear Mr Coyote,\nI'm out, please leave a message after the meep.\n"
    );
}

#[test]
fn rfc5229_modifiers() {
    // §4.1, each value "printed after the arrow".
    let cases = [
        (r#"set "b" "${a}";"#, "juMBlEd lETteRS"),
        (r#"set :length "b" "${a}";"#, "15"),
        (r#"set :lower "b" "${a}";"#, "jumbled letters"),
        (r#"set :upperfirst "b" "${a}";"#, "JuMBlEd lETteRS"),
        (r#"set :upperfirst :lower "b" "${a}";"#, "Jumbled letters"),
        (r#"set :quotewildcard "b" "Rock*";"#, "Rock\\*"),
    ];
    for (set, expected) in cases {
        let script = format!(
            "require [\"variables\", \"fileinto\"];\nset \"a\" \"juMBlEd lETteRS\";\n{set}\n\
             if string :is \"${{b}}\" \"{}\" {{ fileinto \"ok\"; }}",
            expected.replace('\\', "\\\\")
        );
        assert_eq!(folders(&run(&script, "\nx\n")), ["ok"], "{set}");
    }
}

#[test]
fn rfc5229_quoting_and_encoded_characters() {
    // §3.1: "${fo\o}" is a reference to foo; "${fo\\o}" stays as written; the
    // encoded-character example is the test string "dear Ethelbert".
    let script = r#"require ["variables", "fileinto", "encoded-character"];
set "foo" "FOO";
if string :is "${fo\o}" "FOO" { fileinto "one"; }
if string :is "${fo\\o}" "${fo\\o}" { fileinto "two"; }
if string :is "\\${foo}" "\\FOO" { fileinto "three"; }
set "name" "Ethelbert";
if header :contains "Subject" "dear${hex:20 24 7b 4e}ame}" { fileinto "four"; }"#;
    assert_eq!(
        folders(&run(script, "Subject: Oh dear Ethelbert!\n\nx\n")),
        ["one", "two", "three", "four"]
    );
}

#[test]
fn rfc5229_match_variables() {
    // §3.2, the List-ID, Subject and To examples ("fileinfo" in the RFC is a typo for
    // "fileinto").
    let script = r#"require ["fileinto", "variables"];

if header :matches "List-ID" "*<*@*" {
    fileinto "INBOX.lists.${2}"; stop;
}

# Imagine the header
# Subject: [acme-users] [fwd] version 1.0 is out
if header :matches "Subject" "[*] *" {
    # ${1} will hold "acme-users",
    # ${2} will hold "[fwd] version 1.0 is out"
    fileinto "INBOX.lists.${1}"; stop;
}

# Imagine the header
# To: coyote@ACME.Example.COM
if address :matches ["To", "Cc"] ["coyote@**.com",
        "wile@**.com"] {
    # ${0} is the matching address
    # ${1} is always the empty string
    # ${2} is part of the domain name ("ACME.Example")
    fileinto "INBOX.business.${2}"; stop;
} else {
    # Control wouldn't reach this block if any match was
    # successful, so no match variables are set at this
    # point.
}

if anyof (true, address :domain :matches "To" "*.com") {
    # The second test is never evaluated, so there are
    # still no match variables set.
    stop;
}"#;
    assert_eq!(
        folders(&run(
            script,
            "List-ID: Sieve list <sieve.ietf.org@lists.example>\n\nx\n"
        )),
        ["INBOX.lists.sieve.ietf.org"]
    );
    assert_eq!(
        folders(&run(
            script,
            "Subject: [acme-users] [fwd] version 1.0 is out\n\nx\n"
        )),
        ["INBOX.lists.acme-users"]
    );
    assert_eq!(
        folders(&run(script, "To: coyote@ACME.Example.COM\n\nx\n")),
        ["INBOX.business.ACME.Example"]
    );
}

#[test]
fn rfc5229_string_test() {
    // §5: "the above test always succeeds"; :count of "" is 0.
    let script = r#"require ["variables", "fileinto", "relational"];
set "state" "${state} pending";
if string :matches " ${state} " "* pending *" {
    fileinto "always";
}
if string :count "eq" ["", "a", "b"] "2" { fileinto "two"; }"#;
    assert_eq!(folders(&run(script, "\nx\n")), ["always", "two"]);
}

#[test]
fn rfc5229_values_are_cut_not_refused() {
    // §6: a value too long for a variable is truncated at run time, not an error.
    let mut caps = Capabilities::all();
    caps.limits.max_variable_size = 10;
    let program = Program::compile(
        r#"require ["variables", "fileinto"];
if header :matches "subject" "*" { set "s" "${1}"; }
fileinto "${s}";"#,
        &caps,
    )
    .unwrap();
    let msg = ParsedMessage::new("Subject: 0123456789abcdef\r\n\r\n".as_bytes());
    let o = program
        .run(&msg, &World::default(), friday_evening())
        .unwrap();
    assert_eq!(folders(&o), ["0123456789"]);
}

// ---------------------------------------------------------------------------------------------
// RFC 5230: Vacation, RFC 6131: Vacation seconds

fn reply_to(script: &str, message: &str, world: &World) -> Outcome {
    run_in(
        world,
        script,
        message,
        "coyote@desert.example.org",
        "roadrunner@acme.example.com",
    )
}

const TO_ROADRUNNER: &str =
    "From: coyote@desert.example.org\nTo: roadrunner@acme.example.com\nMessage-ID: <1@desert>\n";

#[test]
fn rfc5230_handles_follow_the_reply() {
    // §4.2: two different responses go out to the same sender.
    let script = r#"require "vacation";
if header :contains "subject" "cyrus" {
    vacation "I'm out -- send mail to cyrus-bugs";
} else {
    vacation "I'm out -- call me at +1 304 555 0123";
}"#;
    let mut world = World::default();
    let first = reply_to(
        script,
        &format!("{TO_ROADRUNNER}Subject: Cyrus bug\n\nx\n"),
        &world,
    );
    let key = vacation(&first).unwrap().key.clone();
    assert_eq!(key.sender, "coyote@desert.example.org");
    world.replied.insert(key);
    let second = reply_to(
        script,
        &format!("{TO_ROADRUNNER}Subject: come over for dinner\n\nx\n"),
        &world,
    );
    assert!(vacation(&second).is_some(), "another response, another key");
    // The same response again is not sent.
    let again = reply_to(
        script,
        &format!("{TO_ROADRUNNER}Subject: Cyrus bug again\n\nx\n"),
        &world,
    );
    assert_eq!(again.vacation_declined, Some(NoReply::AlreadyReplied));

    // "the arguments MUST NOT have undergone variable expansion prior to their use in response
    // tracking".
    let script = r#"require ["vacation", "variables"];
if header :matches "subject" "*" {
    vacation :subject "Automatic response to: ${1}"
             "I'm away -- send mail to foo in my absence";
}"#;
    let a = reply_to(
        script,
        &format!("{TO_ROADRUNNER}Subject: lunch?\n\nx\n"),
        &world,
    );
    let b = reply_to(
        script,
        &format!("{TO_ROADRUNNER}Subject: dinner?\n\nx\n"),
        &world,
    );
    let (a, b) = (vacation(&a).unwrap(), vacation(&b).unwrap());
    assert_eq!(a.key, b.key);
    assert_eq!(a.subject, "Automatic response to: lunch?");

    // :handle makes two replies one.
    let script = r#"require "vacation";
if header :contains "subject" "lunch" {
    vacation :handle "ran-away" "I'm out and can't meet for lunch";
} else {
    vacation :handle "ran-away" "I'm out";
}"#;
    let lunch = reply_to(
        script,
        &format!("{TO_ROADRUNNER}Subject: lunch?\n\nx\n"),
        &world,
    );
    let key = vacation(&lunch).unwrap().key.clone();
    assert_eq!(key.handle, "ran-away");
    world.replied.insert(key);
    let dinner = reply_to(
        script,
        &format!("{TO_ROADRUNNER}Subject: dinner?\n\nx\n"),
        &world,
    );
    assert_eq!(dinner.vacation_declined, Some(NoReply::AlreadyReplied));
}

#[test]
fn rfc5230_examples() {
    // §4.8: a simple use, :days and :addresses.
    let script = r#"require "vacation";
vacation :days 23 :addresses ["tjs@example.edu",
                              "ts4z@landru.example.edu"]
"I'm away until October 19.
If it's an emergency, call 911, I guess." ;"#;
    let msg = "From: a@example.org\nTo: TJS@example.edu\nSubject: hello\nMessage-ID: <m@a>\n\nx\n";
    let o = run_in(
        &World::default(),
        script,
        msg,
        "a@example.org",
        "tjs+box@example.edu",
    );
    let v = vacation(&o).expect("addressed to one of :addresses");
    assert_eq!(v.period, Duration::from_hours(552));
    assert_eq!(v.subject, "Auto: hello");
    assert_eq!(v.from, "tjs@example.edu");
    assert_eq!(v.to, "a@example.org");
    assert_eq!(v.in_reply_to.as_deref(), Some("<m@a>"));
    assert_eq!(v.references.as_deref(), Some("<m@a>"));
    assert!(v.body.starts_with("I'm away until October 19.\n"));
    assert!(
        o.keeps(),
        "§4.7: vacation does not affect the implicit keep"
    );

    // Mingled with other rules.
    let script = r#"require "vacation";
if header :contains "from" "boss@example.edu" {
    redirect "pleeb@isp.example.org";
} else {
    vacation "Sorry, I'm away, I'll read your
message when I get around to it.";
}"#;
    let boss = run_in(
        &World::default(),
        script,
        "From: boss@example.edu\nTo: me@example.com\n\nx\n",
        "boss@example.edu",
        "me@example.com",
    );
    assert_eq!(redirects(&boss), ["pleeb@isp.example.org"]);
    // §5.3: without a Subject, "Automated reply".
    let other = run_in(
        &World::default(),
        script,
        "From: x@example.org\nTo: me@example.com\n\nx\n",
        "x@example.org",
        "me@example.com",
    );
    assert_eq!(vacation(&other).unwrap().subject, "Automated reply");

    // §4.4: :mime, the reason is a MIME entity.
    let script = r#"require "vacation";
vacation :mime text:
Content-Type: multipart/alternative; boundary=foo

--foo

I'm at the beach relaxing.  Mmmm, surf...

--foo
Content-Type: text/html; charset=us-ascii

<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.0//EN"
 "http://www.w3.org/TR/REC-html40/strict.dtd">
<HTML><HEAD><TITLE>How to relax</TITLE>
<BASE HREF="http://home.example.com/pictures/"></HEAD>
<BODY><P>I'm at the <A HREF="beach.gif">beach</A> relaxing.
Mmmm, <A HREF="ocean.gif">surf</A>...
</BODY></HTML>

--foo--
.
;"#;
    let o = run_in(
        &World::default(),
        script,
        "From: x@example.org\nTo: me@example.com\n\nx\n",
        "x@example.org",
        "me@example.com",
    );
    let v = vacation(&o).unwrap();
    assert!(v.mime);
    assert!(
        v.body
            .starts_with("Content-Type: multipart/alternative; boundary=foo\n")
    );

    // §7: choosing the language.
    let script = r#"require "vacation";
if header :contains ["accept-language", "content-language"] "en"
{
    vacation "I am away this week.";
} else {
    vacation "Estoy ausente esta semana.";
}"#;
    let o = run_in(
        &World::default(),
        script,
        "From: x@example.org\nTo: me@example.com\nContent-Language: es\n\nx\n",
        "x@example.org",
        "me@example.com",
    );
    assert_eq!(vacation(&o).unwrap().body, "Estoy ausente esta semana.");
}

#[test]
fn rfc5230_restrictions() {
    let script = r#"require "vacation"; vacation "away";"#;
    let decide = |message: &str, from: &str| {
        run_in(&World::default(), script, message, from, "me@example.com").vacation_declined
    };
    let to_me = "To: me@example.com\n";
    // §4.5: only mail sent to the user.
    assert_eq!(
        decide("To: list@example.org\n\nx\n", "a@example.org"),
        Some(NoReply::NotAddressed)
    );
    assert_eq!(decide(&format!("{to_me}\nx\n"), "a@example.org"), None);
    assert_eq!(
        decide("Cc: Me <me@example.com>\n\nx\n", "a@example.org"),
        None
    );
    // §4.6: lists, automatic mail, system addresses.
    assert_eq!(
        decide(&format!("{to_me}List-Post: <mailto:l@x>\n\nx\n"), "a@x.org"),
        Some(NoReply::MailingList)
    );
    assert_eq!(
        decide(
            &format!("{to_me}Auto-Submitted: auto-generated\n\nx\n"),
            "a@x.org"
        ),
        Some(NoReply::AutoSubmitted)
    );
    assert_eq!(
        decide(&format!("{to_me}Auto-Submitted: no\n\nx\n"), "a@x.org"),
        None
    );
    for system in [
        "MAILER-DAEMON@example.org",
        "LISTSERV@example.org",
        "majordomo@example.org",
        "sieve-request@example.org",
        "owner-sieve@example.org",
    ] {
        assert_eq!(
            decide(&format!("{to_me}\nx\n"), system),
            Some(NoReply::SystemAddress),
            "{system}"
        );
    }
    // RFC 3834 §2: never to <>, never to oneself.
    assert_eq!(
        decide(&format!("{to_me}\nx\n"), ""),
        Some(NoReply::NullSender)
    );
    assert_eq!(
        decide(&format!("{to_me}\nx\n"), "Me@Example.com"),
        Some(NoReply::OwnAddress)
    );
}

#[test]
fn rfc5230_vacation_once_and_not_with_reject() {
    // §4.7: two vacation actions fail the script; vacation and reject do not go together.
    let msg = ParsedMessage::new(b"To: me@example.com\r\n\r\nx\r\n")
        .with_envelope("a@example.org", "me@example.com");
    let twice = compile(r#"require "vacation"; vacation "a"; vacation "b";"#);
    let err = twice
        .run(&msg, &World::default(), friday_evening())
        .unwrap_err();
    assert!(matches!(err.kind(), RuntimeErrorKind::ActionConflict(_)));
    let with_reject = compile(r#"require ["vacation", "reject"]; vacation "a"; reject "no";"#);
    assert!(
        with_reject
            .run(&msg, &World::default(), friday_evening())
            .is_err()
    );
}

#[test]
fn rfc6131_seconds() {
    let script = r#"require ["vacation-seconds"];
vacation :addresses ["tjs@example.edu", "ts4z@landru.example.edu"]
         :seconds 1800
         "I am in a meeting, and do not have access to email.";"#;
    let mut caps = Capabilities::all();
    caps.limits.vacation_min_period = Duration::ZERO;
    let program = Program::compile(script, &caps).unwrap();
    let msg = ParsedMessage::new(b"To: tjs@example.edu\r\n\r\nx\r\n")
        .with_envelope("a@example.org", "tjs@example.edu");
    let o = program
        .run(&msg, &World::default(), friday_evening())
        .unwrap();
    assert_eq!(vacation(&o).unwrap().period, Duration::from_mins(30));
    // With the default minimum of a day, 1800 seconds is raised to it.
    let o = compile(script)
        .run(&msg, &World::default(), friday_evening())
        .unwrap();
    assert_eq!(vacation(&o).unwrap().period, Duration::from_hours(24));
}

// ---------------------------------------------------------------------------------------------
// RFC 5231: Relational

const RFC5231_MESSAGE: &str = "received: a\nreceived: b\nsubject: example\n\
to: foo@example.com, baz@example.com\ncc: qux@example.com\n\nx\n";

#[test]
fn rfc5231_count_examples() {
    let check = |test: &str| {
        let script = format!(
            "require [\"relational\", \"comparator-i;ascii-numeric\", \"fileinto\"];\n\
             if {test} {{ fileinto \"true\"; }}"
        );
        folders(&run(&script, RFC5231_MESSAGE)) == ["true"]
    };
    assert!(check(
        r#"address :count "ge" :comparator "i;ascii-numeric"
                ["to", "cc"] ["3"]"#
    ));
    assert!(!check(
        r#"anyof ( address :count "ge" :comparator "i;ascii-numeric"
                ["to"] ["3"],
        address :count "ge" :comparator "i;ascii-numeric"
                ["cc"] ["3"] )"#
    ));
    assert!(!check(
        r#"header :count "ge" :comparator "i;ascii-numeric"
                ["received"] ["3"]"#
    ));
    assert!(check(
        r#"header :count "ge" :comparator "i;ascii-numeric"
                ["received", "subject"] ["3"]"#
    ));
    assert!(!check(
        r#"header :count "ge" :comparator "i;ascii-numeric"
                ["to", "cc"] ["3"]"#
    ));
}

#[test]
fn rfc5231_extended_example() {
    let script = r#"require ["relational", "comparator-i;ascii-numeric", "fileinto"];

if header :value "lt" :comparator "i;ascii-numeric"
          ["x-priority"] ["3"]
{
   fileinto "Priority";
}

elsif address :count "gt" :comparator "i;ascii-numeric"
           ["to"] ["5"]
{
   # everything with more than 5 recipients in the "to" field
   # is considered SPAM
   fileinto "SPAM";
}

elsif address :value "gt" :all :comparator "i;ascii-casemap"
           ["from"] ["M"]
{
   fileinto "From N-Z";
} else {
   fileinto "From A-M";
}

if allof ( address :count "eq" :comparator "i;ascii-numeric"
                   ["to", "cc"] ["1"] ,
           address :all :comparator "i;ascii-casemap"
                   ["to", "cc"] ["me@foo.example.com"] )
{
   fileinto "Only me";
}"#;
    assert_eq!(
        folders(&run(script, "X-Priority: 1\nFrom: zed@x.example\n\nx\n")),
        ["Priority"]
    );
    assert_eq!(
        folders(&run(
            script,
            "To: a@x, b@x, c@x, d@x, e@x, f@x\nFrom: a@x\n\nx\n"
        )),
        ["SPAM"]
    );
    assert_eq!(
        folders(&run(script, "From: zed@x.example\n\nx\n")),
        ["From N-Z"]
    );
    assert_eq!(
        folders(&run(
            script,
            "From: adam@x.example\nTo: Me <me@foo.example.com>\n\nx\n"
        )),
        ["From A-M", "Only me"]
    );
}

// ---------------------------------------------------------------------------------------------
// RFC 5232: Imap4flags

fn flags_of(outcome: &Outcome, folder: &str) -> Vec<String> {
    outcome
        .actions
        .iter()
        .find_map(|a| match a {
            Action::Keep { flags, .. } if folder == "INBOX" => Some(flags.clone()),
            Action::FileInto { mailbox, flags, .. } if mailbox == folder => Some(flags.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no store into {folder}: {outcome:?}"))
}

#[test]
fn rfc5232_flag_actions() {
    // §3.1
    let big = format!("Subject: big\n\n{}\n", "x".repeat(600 * 1024));
    let o = run(
        r#"require "imap4flags";
if size :over 500K {
    setflag "\\Deleted";
}"#,
        &big,
    );
    assert_eq!(flags_of(&o, "INBOX"), ["\\Deleted"]);
    let o = run(
        r#"require ["imap4flags", "variables", "fileinto"];
if header :contains "from" "boss@frobnitzm.example.edu" {
    setflag "flagvar" "\\Flagged";
    fileinto :flags "${flagvar}" "INBOX.From Boss";
}"#,
        "From: boss@frobnitzm.example.edu\n\nx\n",
    );
    assert_eq!(flags_of(&o, "INBOX.From Boss"), ["\\Flagged"]);
    // §3.2: these produce the same result.
    for add in [
        r#"addflag "flagvar" "\\Deleted"; addflag "flagvar" "\\Answered";"#,
        r#"addflag "flagvar" ["\\Deleted", "\\Answered"];"#,
        r#"addflag "flagvar" "\\Deleted \\Answered";"#,
        r#"addflag "flagvar" "\\Answered \\Deleted";"#,
    ] {
        let script = format!(
            "require [\"imap4flags\", \"variables\", \"fileinto\", \"relational\", \
             \"comparator-i;ascii-numeric\"];\n{add}\n\
             if allof (hasflag \"flagvar\" \"\\\\deleted\", hasflag \"flagvar\" \"\\\\ANSWERED\",\n\
             hasflag :count \"eq\" :comparator \"i;ascii-numeric\" \"flagvar\" \"2\")\n\
             {{ fileinto \"same\"; }}"
        );
        let o = run(&script, "\nx\n");
        assert_eq!(folders(&o), ["same"], "{add}");
    }
    // §3.3
    let script = r#"require ["imap4flags", "variables", "fileinto"];
if header :contains "Disposition-Notification-To"
   "mel@example.com" {
    addflag "flagvar" "$MDNRequired";
}
if header :contains "from" "imap@cac.washington.example.edu" {
    removeflag "flagvar" "$MDNRequired";
    fileinto :flags "${flagvar}" "INBOX.imap-list";
}"#;
    let o = run(
        script,
        "Disposition-Notification-To: mel@example.com\nFrom: imap@cac.washington.example.edu\n\nx\n",
    );
    assert!(flags_of(&o, "INBOX.imap-list").is_empty());
}

#[test]
fn rfc5232_hasflag() {
    let check = |setup: &str, test: &str| {
        let script = format!(
            "require [\"imap4flags\", \"variables\", \"relational\", \
             \"comparator-i;ascii-numeric\", \"fileinto\"];\n{setup}\n\
             if {test} {{ fileinto \"true\"; }}"
        );
        folders(&run(&script, "\nx\n")) == ["true"]
    };
    // §4: the internal variable "A B".
    assert!(check(r#"addflag "A B";"#, r#"hasflag :is "b A""#));
    assert!(check(r#"addflag "A B";"#, r#"hasflag ["b","A"]"#));
    let myvar = r#"set "MyVar" "NonJunk Junk gnus-forward $Forwarded NotJunk JunkRecorded $Junk $NotJunk";"#;
    for t in [
        r#"hasflag :contains "MyVar" "Junk""#,
        r#"hasflag :contains "MyVar" "forward""#,
        r#"hasflag :contains "MyVar" ["label", "forward"]"#,
        r#"hasflag :contains "MyVar" ["junk", "forward"]"#,
        r#"hasflag :contains "MyVar" "junk forward""#,
        r#"hasflag :contains "MyVar" "forward junk""#,
    ] {
        assert!(check(myvar, t), "{t}");
    }
    for t in [
        r#"hasflag :contains "MyVar" "label""#,
        r#"hasflag :contains "MyVar" ["label1", "label2"]"#,
    ] {
        assert!(!check(myvar, t), "{t}");
    }
    assert!(check(
        r#"set "MyFlags" "A B";"#,
        r#"hasflag :count "ge" :comparator "i;ascii-numeric"
        "MyFlags" "2""#
    ));
}

#[test]
fn rfc5232_extended_example() {
    // §9, with "remove" (an erratum) written "removeflag".
    let script = r#"#
# Example Sieve Filter
# Declare any optional features or extension used by the script
#
require ["fileinto", "imap4flags", "variables"];

#
# Move large messages to a special mailbox
#
if size :over 1M
        {
        addflag "MyFlags" "Big";
        if header :is "From" "boss@company.example.com"
                   {
# The message will be marked as "\Flagged Big" when filed into
# mailbox "Big messages"
                   addflag "MyFlags" "\\Flagged";
                   }
        fileinto :flags "${MyFlags}" "Big messages";
        }

if header :is "From" "grandma@example.net"
        {
        addflag "MyFlags" ["\\Answered", "$MDNSent"];
# If the message is bigger than 1Mb it will be marked as
# "Big \Answered $MDNSent" when filed into mailbox "grandma".
# If the message is shorter than 1Mb it will be marked as
# "\Answered $MDNSent"
        fileinto :flags "${MyFlags}" "GrandMa";
        }

#
# Handle messages from known mailing lists
# Move messages from IETF filter discussion list to filter folder
#
if header :is "Sender" "owner-ietf-mta-filters@example.org"
        {
        set "MyFlags" "\\Flagged $Work";
# Message will have both "\Flagged" and $Work flags
        keep :flags "${MyFlags}";
        }

#
# Keep all messages to or from people in my company
#
elsif anyof (address :domain :is ["From", "To"] "company.example.com")
        {
        keep :flags "${MyFlags}"; # keep in "Inbox" folder
        }

# Try to catch unsolicited email.  If a message is not to me,
# or it contains a subject known to be spam, file it away.
#
elsif anyof (not address :all :contains
               ["To", "Cc"] "me@company.example.com",
             header :matches "subject"
               ["*make*money*fast*", "*university*dipl*mas*"])
        {
        removeflag "MyFlags" "\\Flagged";
        fileinto :flags "${MyFlags}" "spam";
        }
else
        {
        # Move all other external mail to "personal"
        # folder.
        fileinto :flags "${MyFlags}" "personal";
        }"#;
    let big_boss = format!(
        "From: boss@company.example.com\nTo: me@company.example.com\n\n{}\n",
        "x".repeat(1024 * 1024 + 10)
    );
    let o = run(script, &big_boss);
    assert_eq!(flags_of(&o, "Big messages"), ["Big", "\\Flagged"]);
    assert_eq!(flags_of(&o, "INBOX"), ["Big", "\\Flagged"]);
    let grandma = "From: grandma@example.net\nTo: me@company.example.com\n\nx\n";
    let o = run(script, grandma);
    assert_eq!(flags_of(&o, "GrandMa"), ["\\Answered", "$MDNSent"]);
    assert_eq!(flags_of(&o, "INBOX"), ["\\Answered", "$MDNSent"]);
    let stranger =
        "From: a@example.net\nTo: b@example.net\nCc: me@company.example.com\nSubject: hi\n\nx\n";
    assert_eq!(folders(&run(script, stranger)), ["personal"]);
    let list = "Sender: owner-ietf-mta-filters@example.org\n\nx\n";
    assert_eq!(
        flags_of(&run(script, list), "INBOX"),
        ["\\Flagged", "$Work"]
    );
}

// ---------------------------------------------------------------------------------------------
// RFC 5233: Subaddress

#[test]
fn rfc5233_example() {
    let script = r#"require ["envelope", "subaddress", "fileinto"];

# In this example the same user account receives mail for both
# "ken@example.com" and "postmaster@example.com"

# File all messages to postmaster into a single mailbox,
# ignoring the :detail part.
if envelope :user "to" "postmaster" {
    fileinto "inbox.postmaster";
    stop;
}

# File mailing list messages (subscribed as "ken+mta-filters").
if envelope :detail "to" "mta-filters" {
    fileinto "inbox.ietf-mta-filters";
}

# Redirect all mail sent to "ken+foo".
if envelope :detail "to" "foo" {
    redirect "ken@example.net";
}"#;
    let to = |rcpt: &str| run_in(&World::default(), script, "\nx\n", "a@example.org", rcpt);
    assert_eq!(
        folders(&to("postmaster+abuse@example.com")),
        ["inbox.postmaster"]
    );
    assert_eq!(
        folders(&to("ken+mta-filters@example.com")),
        ["inbox.ietf-mta-filters"]
    );
    assert_eq!(redirects(&to("ken+foo@example.com")), ["ken@example.net"]);
    // No detail: ":detail" matches nothing, not even "".
    let o = run_in(
        &World::default(),
        r#"require ["envelope", "subaddress", "fileinto"];
if envelope :detail "to" "" { fileinto "empty"; }
if envelope :user "to" "ken" { fileinto "user"; }"#,
        "\nx\n",
        "a@example.org",
        "ken@example.com",
    );
    assert_eq!(folders(&o), ["user"]);
}

// ---------------------------------------------------------------------------------------------
// RFC 3894: Copy

#[test]
fn rfc3894_copy() {
    // §3: fileinto :copy and redirect :copy keep the implicit keep.
    let o = run(
        r#"require ["copy", "fileinto"];
fileinto :copy "incoming";
redirect :copy "archive@example.net";"#,
        "\nx\n",
    );
    assert_eq!(folders(&o), ["incoming", "INBOX"]);
    assert_eq!(redirects(&o), ["archive@example.net"]);
    assert!(o.keeps());
}

// ---------------------------------------------------------------------------------------------
// RFC 5173: Body

const RFC5173_MESSAGE: &str = "From: Whomever
To: Someone
Date: Whenever
Subject: whatever
Content-Type: multipart/mixed; boundary=outer

This is a multi-part message in MIME format.

--outer
Content-Type: multipart/alternative; boundary=inner

This is a nested multi-part message in MIME format.

--inner
Content-Type: text/plain; charset=\"us-ascii\"

Hello

--inner
Content-Type: text/html; charset=\"us-ascii\"

<html><body>Hello</body></html>

--inner--

This is the end of the inner MIME multipart.

--outer
Content-Type: message/rfc822

From: Someone Else
Subject: hello request

Please say Hello

--outer--

This is the end of the outer MIME multipart.
";

#[test]
fn rfc5173_content_types() {
    // §5.2: which lines each test reads.
    let check = |test: &str| {
        let script =
            format!("require [\"body\", \"fileinto\"];\nif {test} {{ fileinto \"hit\"; }}");
        folders(&run(&script, RFC5173_MESSAGE)) == ["hit"]
    };
    assert!(check(r#"body :content "multipart" :contains "MIME""#));
    assert!(!check(r#"body :content "multipart" :contains "Hello""#));
    assert!(check(r#"body :content "text/plain" :contains "Hello""#));
    assert!(!check(r#"body :content "text/plain" :contains "html""#));
    assert!(check(r#"body :content "text/html" :contains "Hello""#));
    assert!(check(r#"body :content "text" :contains "Hello""#));
    assert!(check(r#"body :content "message/rfc822" :contains "Hello""#));
    assert!(!check(
        r#"body :content "message/rfc822" :contains "Please""#
    ));
    assert!(check(r#"body :content "" :contains "Please say""#));
    assert!(!check(r#"body :content "/plain" :contains """#));
    assert!(!check(r#"body :content "text/plain/x" :contains """#));
}

#[test]
fn rfc5173_examples() {
    // §5.1
    let raw = r#"require "body";

# This will match a message containing the literal text
# "MAKE MONEY FAST" in body parts (ignoring any
# content-transfer-encodings) or MIME headers other than
# the outermost RFC 2822 header.

if body :raw :contains "MAKE MONEY FAST" {
        discard;
}"#;
    assert!(discarded(&run(
        raw,
        "Subject: x\n\nplease MAKE MONEY FAST\n"
    )));
    assert!(!discarded(&run(raw, "Subject: MAKE MONEY FAST\n\nno\n")));
    // §5.2
    let content = r#"require ["body", "fileinto"];

# Save any message with any text MIME part that contains the
# words "missile" or "coordinates" in the "secrets" folder.

if body :content "text" :contains ["missile", "coordinates"] {
        fileinto "secrets";
}

# Save any message with an audio/mp3 MIME part in
# the "jukebox" folder.

if body :content "audio/mp3" :contains "" {
        fileinto "jukebox";
}"#;
    let msg = "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\
Content-Transfer-Encoding: base64\n\nVGhlIGNvb3JkaW5hdGVzIGFyZQ==\n--b\n\
Content-Type: audio/mp3\n\nID3\n--b--\n";
    assert_eq!(folders(&run(content, msg)), ["secrets", "jukebox"]);
    // §5.3
    let text = r#"require ["body", "fileinto"];

# Save messages mentioning the project schedule in the
# project/schedule folder.
if body :text :contains "project schedule" {
        fileinto "project/schedule";
}"#;
    assert_eq!(
        folders(&run(text, "Subject: x\n\nthe project schedule slipped\n")),
        ["project/schedule"]
    );
    // §6: body :matches does not set match variables.
    let vars = r#"require ["body", "variables", "fileinto"];
if header :matches "subject" "*" {}
if body :matches "*" { fileinto "[${1}]"; }"#;
    assert_eq!(folders(&run(vars, "Subject: subj\n\nbody\n")), ["[subj]"]);
}

// ---------------------------------------------------------------------------------------------
// RFC 5260: Date and Index

#[test]
fn rfc5260_date_examples() {
    let script = r#"require ["date", "relational", "fileinto"];
if allof(header :is "from" "boss@example.com",
         date :value "ge" :originalzone "date" "hour" "09",
         date :value "lt" :originalzone "date" "hour" "17")
{ fileinto "urgent"; }"#;
    let at = |date: &str| format!("From: boss@example.com\nDate: {date}\n\nx\n");
    assert_eq!(
        folders(&run(script, &at("Fri, 05 Aug 2005 10:00:00 -0700"))),
        ["urgent"]
    );
    assert_eq!(
        folders(&run(script, &at("Fri, 05 Aug 2005 17:31:00 -0700"))),
        ["INBOX"]
    );
    let script = r#"require ["date", "relational", "fileinto"];
if anyof(date :is "received" "weekday" "0",
         date :is "received" "weekday" "6")
{ fileinto "weekend"; }"#;
    let received = |date: &str| format!("Received: from a by b; {date}\n\nx\n");
    assert_eq!(
        folders(&run(script, &received("Sat, 06 Aug 2005 10:00:00 +0000"))),
        ["weekend"]
    );
    assert_eq!(
        folders(&run(script, &received("Fri, 05 Aug 2005 10:00:00 +0000"))),
        ["INBOX"]
    );
}

#[test]
fn rfc5260_currentdate_examples() {
    // Now is Friday 2005-08-05 17:31 at -0700, Saturday 00:31 in UTC.
    let pager = r#"require ["date", "relational"];
if anyof(currentdate :is "weekday" "0",
         currentdate :is "weekday" "6",
         currentdate :value "lt" "hour" "09",
         currentdate :value "ge" "hour" "17")
{ redirect "pager@example.com"; }"#;
    let mut world = World {
        offset: -7 * 60,
        ..World::default()
    };
    let o = run_in(&world, pager, "\nx\n", "a@b.example", "me@example.com");
    assert_eq!(redirects(&o), ["pager@example.com"]);

    let away = r#"require ["date", "relational", "vacation"];
if allof(currentdate :value "ge" "date" "2007-06-30",
         currentdate :value "le" "date" "2007-07-07")
{ vacation :days 7  "I'm away during the first week in July."; }"#;
    let o = run_in(
        &world,
        away,
        "To: me@example.com\n\nx\n",
        "a@b.example",
        "me@example.com",
    );
    assert!(vacation(&o).is_none(), "not in July 2007");

    let monthly = r#"require ["date", "variables", "fileinto"];
if currentdate :matches "month" "*" { set "month" "${1}"; }
if currentdate :matches "year"  "*" { set "year"  "${1}"; }
fileinto "${month}-${year}";"#;
    assert_eq!(
        folders(&run_in(
            &world,
            monthly,
            "\nx\n",
            "a@b.example",
            "me@example.com"
        )),
        ["08-2005"]
    );
    world.offset = 0;
    let stamp = r#"require ["variables", "date", "fileinto"];
if currentdate :matches "std11" "*" { fileinto "${0}"; }
if currentdate :zone "+0530" :matches "iso8601" "*" { fileinto "${0}"; }
if currentdate :is "julian" "53588" { fileinto "mjd"; }"#;
    assert_eq!(
        folders(&run_in(
            &world,
            stamp,
            "\nx\n",
            "a@b.example",
            "me@example.com"
        )),
        [
            "Sat, 6 Aug 2005 00:31:00 +0000",
            "2005-08-06T06:01:00+05:30",
            "mjd"
        ]
    );
}

#[test]
fn rfc5260_index_example() {
    // §6.1, without the erratum's stray comma before the block.
    let script = r#"# Implement the Internet-Draft cutoff date check assuming the
# second Received: field specifies when the message first
# entered the local email infrastructure.
require ["date", "relational", "index"];
if date :value "gt" :index 2 :zone "-0500" "received"
        "iso8601" "2007-02-26T09:00:00-05:00"
{ redirect "aftercutoff@example.org"; }"#;
    let msg = |second: &str| {
        format!(
            "Received: from a by b; Mon, 26 Feb 2007 20:00:00 +0000\n\
             Received: from c by a; {second}\n\nx\n"
        )
    };
    assert_eq!(
        redirects(&run(script, &msg("Mon, 26 Feb 2007 15:00:01 +0100"))),
        ["aftercutoff@example.org"]
    );
    assert!(redirects(&run(script, &msg("Mon, 26 Feb 2007 13:59:59 +0000"))).is_empty());
    // :last counts from the end; with several names the fields of all count in order.
    let last = r#"require ["index", "fileinto"];
if header :index 1 :last "received" "second" { fileinto "last"; }
if header :index 3 ["x-a", "x-b"] "b1" { fileinto "third"; }"#;
    assert_eq!(
        folders(&run(
            last,
            "Received: first\nReceived: second\nX-B: b1\nX-A: a1\nX-A: a2\n\nx\n"
        )),
        ["last", "third"]
    );
}

// ---------------------------------------------------------------------------------------------
// RFC 5490: Mailbox

#[test]
fn rfc5490_examples() {
    let script = r#"require ["fileinto", "mailbox"];
if header :is "Sender" "owner-ietf-mta-filters@imc.org"
        {
        fileinto :create "filter";  # move to "filter" mailbox
        }"#;
    let o = run(script, "Sender: owner-ietf-mta-filters@imc.org\n\nx\n");
    assert_eq!(
        o.actions,
        vec![Action::FileInto {
            mailbox: "filter".into(),
            flags: vec![],
            copy: false,
            create: true
        }]
    );
    let exists = r#"require ["fileinto", "mailbox"];
if mailboxexists ["Sent", "Drafts"] { fileinto "both"; }"#;
    let mut world = World::default();
    world.mailboxes.insert("Sent".into());
    assert_eq!(
        folders(&run_in(
            &world,
            exists,
            "\nx\n",
            "a@b.example",
            "me@x.example"
        )),
        ["INBOX"]
    );
    world.mailboxes.insert("Drafts".into());
    assert_eq!(
        folders(&run_in(
            &world,
            exists,
            "\nx\n",
            "a@b.example",
            "me@x.example"
        )),
        ["both"]
    );
}

// ---------------------------------------------------------------------------------------------
// RFC 6609: Include

fn rfc6609_world() -> World {
    let mut world = World::default();
    let mut add = |loc, name: &str, text: &str| {
        world
            .scripts
            .insert((loc, name.to_owned()), text.to_owned());
    };
    add(
        ScriptLocation::Personal,
        "always_allow",
        r#"if address :is "from" "boss@example.com"
{
    keep;
}
elsif address :is "from" "ceo@example.com"
{
    keep;
}"#,
    );
    add(
        ScriptLocation::Personal,
        "spam_tests",
        r#"require ["reject"];

if header :contains "Subject" "XXXX"
{
    reject "Subject XXXX is unacceptable.";
}
elsif address :is "from" "money@example.com"
{
    reject "Mail from this sender is unwelcome.";
}"#,
    );
    add(
        ScriptLocation::Personal,
        "mailing_lists",
        r#"require ["fileinto"];

if header :is "List-ID" "sieve.ietf.org"
{
    fileinto "lists.sieve";
}
elsif header :is "List-ID" "ietf-imapext.imc.org"
{
    fileinto "lists.imapext";
}"#,
    );
    add(
        ScriptLocation::Global,
        "spam_tests",
        r#"require ["reject"];

if anyof (header :contains "Subject" "$$",
          header :contains "Subject" "Make money")
{
    reject "No thank you.";
}"#,
    );
    add(
        ScriptLocation::Personal,
        "subject_tests",
        r#"require ["include", "variables"];
global ["test", "test_mailbox"];

if header :contains "Subject" "${test}"
{
    set "test_mailbox" "spam-${test}";
}"#,
    );
    world
}

const RFC6609_DEFAULT: &str = r#"require ["include"];

include :personal "always_allow";
include :global "spam_tests";
include :personal "spam_tests";
include :personal "mailing_lists";"#;

#[test]
fn rfc6609_default_script() {
    let world = rfc6609_world();
    let run = |message: &str| {
        run_in(
            &world,
            RFC6609_DEFAULT,
            message,
            "a@b.example",
            "me@x.example",
        )
    };
    let o = run("From: someone@example.org\nSubject: Make money\n\nx\n");
    assert_eq!(
        o.actions,
        vec![Action::Reject {
            reason: "No thank you.".into(),
            extended: false
        }]
    );
    let o = run("From: money@example.com\nSubject: hi\n\nx\n");
    assert_eq!(
        o.actions,
        vec![Action::Reject {
            reason: "Mail from this sender is unwelcome.".into(),
            extended: false
        }]
    );
    let o = run("From: x@example.org\nList-ID: sieve.ietf.org\n\nx\n");
    assert_eq!(folders(&o), ["lists.sieve"]);
    // The boss is kept, and a later reject of the same message fails the run (RFC 5429 §2.4).
    let o = run("From: boss@example.com\nSubject: hi\n\nx\n");
    assert_eq!(folders(&o), ["INBOX"]);
    let msg = ParsedMessage::new(b"From: boss@example.com\r\nSubject: XXXX\r\n\r\nx\r\n");
    let err = compile(RFC6609_DEFAULT)
        .run(&msg, &world, friday_evening())
        .unwrap_err();
    assert_eq!(err.script(), Some("spam_tests"));
}

#[test]
fn rfc6609_global_variables() {
    let script = r#"require ["fileinto", "include", "variables", "relational"];
global "test";
global "test_mailbox";

set "test" "$$";
include "subject_tests";

set "test" "Make money";
include "subject_tests";

if string :count "eq" "${test_mailbox}" "1"
{
    fileinto "${test_mailbox}";
    stop;
}"#;
    let world = rfc6609_world();
    let o = run_in(
        &world,
        script,
        "Subject: Make money fast\n\nx\n",
        "a@b.example",
        "me@x.example",
    );
    assert_eq!(folders(&o), ["spam-Make money"]);
    let o = run_in(
        &world,
        script,
        "Subject: hi\n\nx\n",
        "a@b.example",
        "me@x.example",
    );
    assert_eq!(folders(&o), ["INBOX"]);

    // §3.4.2: "global" and the "global." namespace are one and the same.
    let script = r#"require ["variables", "include", "vacation"];
global "i_am_on_vacation";

set "global.i_am_on_vacation" "1";

if string :is "${i_am_on_vacation}" "1"
{
    vacation "It's true, I am on vacation.";
}"#;
    let o = run_in(
        &world,
        script,
        "To: me@x.example\n\nx\n",
        "a@b.example",
        "me@x.example",
    );
    assert_eq!(vacation(&o).unwrap().body, "It's true, I am on vacation.");
}

#[test]
fn rfc6609_recursion_missing_and_return() {
    let mut world = World::default();
    world.scripts.insert(
        (ScriptLocation::Personal, "a".into()),
        r#"require "include"; include "b";"#.into(),
    );
    world.scripts.insert(
        (ScriptLocation::Personal, "b".into()),
        r#"require "include"; include "a";"#.into(),
    );
    world.scripts.insert(
        (ScriptLocation::Personal, "once".into()),
        r#"require ["include", "fileinto"]; fileinto "once"; include :once "once"; return; fileinto "never";"#
            .into(),
    );
    let msg = ParsedMessage::new(b"\r\nx\r\n");
    // §3.1: recursion is an error at run time.
    let err = compile(r#"require "include"; include "a";"#)
        .run(&msg, &world, friday_evening())
        .unwrap_err();
    assert!(matches!(err.kind(), RuntimeErrorKind::Include(_)), "{err}");
    // A missing script is an error unless :optional.
    assert!(
        compile(r#"require "include"; include "missing";"#)
            .run(&msg, &world, friday_evening())
            .is_err()
    );
    let o = compile(r#"require "include"; include :optional "missing";"#)
        .run(&msg, &world, friday_evening())
        .unwrap();
    assert!(o.keeps());
    // :once does not include again, even from itself; return ends the included script only.
    let o = compile(
        r#"require ["include", "fileinto"]; include :once "once"; include :once "once"; fileinto "after";"#,
    )
    .run(&msg, &world, friday_evening())
    .unwrap();
    assert_eq!(folders(&o), ["once", "after"]);
    // In the main script, return is stop.
    let o = compile(r#"require ["include", "fileinto"]; return; fileinto "never";"#)
        .run(&msg, &world, friday_evening())
        .unwrap();
    assert_eq!(folders(&o), ["INBOX"]);
    // The name is a constant: no variables in it.
    let o = compile(r#"require ["include", "variables"]; set "n" "a"; include :optional "${n}";"#)
        .run(&msg, &world, friday_evening())
        .unwrap();
    assert!(o.keeps());
}

// ---------------------------------------------------------------------------------------------
// RFC 5429: Reject and Extended Reject

#[test]
fn rfc5429_examples() {
    let script = r#"require ["ereject"];

if address "from" "someone@example.com" {
    ereject "I no longer accept mail from this address";
}"#;
    let o = run(script, "From: someone@example.com\n\nx\n");
    assert_eq!(
        o.actions,
        vec![Action::Reject {
            reason: "I no longer accept mail from this address".into(),
            extended: true
        }]
    );
    let script = r#"require ["reject"];

if size :over 100K {
    reject text:
Your message is too big.  If you want to send me a big attachment,
put it on a public web site and send me a URL.
.
    ;
}"#;
    let big = format!("Subject: x\n\n{}\n", "y".repeat(150 * 1024));
    assert!(matches!(
        &run(script, &big).actions[..],
        [Action::Reject { extended: false, reason }] if reason.starts_with("Your message is too big.")
    ));
    let script = r#"require ["reject"];

if header :contains "from" "coyote@desert.example.org" {
    reject text:
I am not taking mail from you, and I don't
want your birdseed, either!
.
    ;
}"#;
    let o = run(script, "From: coyote@desert.example.org\n\nx\n");
    assert!(!o.keeps(), "§2.4: reject cancels the implicit keep");
}

#[test]
fn rfc5429_compatibility() {
    // §2.4: one reject only; not with delivering actions (Pigeonhole fails the run).
    let msg = ParsedMessage::new(b"\r\nx\r\n");
    for script in [
        r#"require "reject"; reject "a"; reject "b";"#,
        r#"require ["reject", "ereject"]; reject "a"; ereject "b";"#,
        r#"require "reject"; keep; reject "a";"#,
        r#"require ["reject", "fileinto"]; reject "a"; fileinto "x";"#,
        r#"require "reject"; redirect "a@b.example"; reject "a";"#,
    ] {
        let err = compile(script)
            .run(&msg, &World::default(), friday_evening())
            .unwrap_err();
        assert!(
            matches!(err.kind(), RuntimeErrorKind::ActionConflict(_)),
            "{script}: {err}"
        );
    }
    let o = compile(r#"require "reject"; discard; reject "a";"#)
        .run(&msg, &World::default(), friday_evening())
        .unwrap();
    assert_eq!(o.actions.len(), 2);
}
