//! THREAD and UID THREAD (RFC 5256 §3): ORDEREDSUBJECT, REFERENCES, and Dovecot's REFS.
//!
//! Each matching message's header (from the store's index) is taken once for its Message-ID, References, In-Reply-To,
//! Subject and Date (module `keys`, which keeps them per folder for the next THREAD). Every walk over the threads is iterative (an explicit stack), so a chain
//! of any length cannot exhaust the stack. Sent dates are SORT's DATE (the Date: field, else
//! the INTERNALDATE); equal dates keep mailbox order.

use std::collections::HashMap;

use super::fetch::internal_date;
use super::keys::Keys;
use super::selected::{Selected, nz};
use mailwright_imap_proto::types::sort::{Thread, ThreadAlgorithm};

/// What threading needs of one message.
#[derive(Debug, Clone)]
struct Facts {
    /// Index in the session's view.
    index: usize,
    /// Sent date, then the index: the sort key of RFC 5256 §3.
    date: (i64, usize),
    subject: String,
    /// The subject had a `Re:`, `Fwd:`, `(fwd)` or `[fwd: ]` (RFC 5256 §3, REFERENCES (5)).
    reply: bool,
    message_id: Option<String>,
    /// References, or else the first message id of In-Reply-To.
    references: Vec<String>,
}

/// The `<...>` message ids of a field value, without the brackets.
pub(crate) fn msg_ids(value: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(open) = rest.iter().position(|&c| c == b'<') {
        let after = &rest[open + 1..];
        let Some(close) = after.iter().position(|&c| c == b'>') else {
            break;
        };
        let id: Vec<u8> = after[..close]
            .iter()
            .copied()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        // RFC 5322 §3.6.4: id-left "@" id-right.
        if id.contains(&b'@') && !id.contains(&b'<') {
            out.push(String::from_utf8_lossy(&id).into_owned());
        }
        rest = &after[close + 1..];
    }
    out
}

fn facts(sel: &Selected, keys: &Keys<'_>, i: usize) -> Facts {
    let k = keys.get(i);
    let uid = sel.msgs[i].uid;
    let date = k
        .sent_date
        .unwrap_or_else(|| internal_date(&*sel.mailbox, uid).unwrap_or(0));
    Facts {
        index: i,
        date: (date, i),
        subject: k.subject.to_string(),
        reply: k.reply,
        message_id: k.message_id.as_deref().map(str::to_owned),
        references: k.references.iter().map(ToString::to_string).collect(),
    }
}

/// A container of the REFERENCES algorithm: a message (an index into the facts) or a dummy.
#[derive(Default)]
struct Node {
    msg: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

struct Forest {
    nodes: Vec<Node>,
}

impl Forest {
    fn new_node(&mut self, msg: Option<usize>) -> usize {
        self.nodes.push(Node {
            msg,
            ..Node::default()
        });
        self.nodes.len() - 1
    }
    /// Whether `a` is `b` or one of its ancestors.
    fn is_ancestor(&self, a: usize, b: usize) -> bool {
        // A node without children is nobody's ancestor: the usual case (a new message linked
        // under its parent), which keeps a long chain linear rather than quadratic.
        if self.nodes[a].children.is_empty() {
            return a == b;
        }
        let mut at = Some(b);
        while let Some(n) = at {
            if n == a {
                return true;
            }
            at = self.nodes[n].parent;
        }
        false
    }
    fn unlink(&mut self, child: usize) {
        if let Some(p) = self.nodes[child].parent.take() {
            self.nodes[p].children.retain(|&c| c != child);
        }
    }
    /// Makes `child` a child of `parent` unless that makes a loop.
    fn link(&mut self, parent: usize, child: usize) -> bool {
        if self.is_ancestor(child, parent) {
            return false;
        }
        self.unlink(child);
        self.nodes[child].parent = Some(parent);
        self.nodes[parent].children.push(child);
        true
    }
}

/// The threads of the matching messages (`hits`, indexes in mailbox order); numbers are UIDs
/// with `uid`, else sequence numbers.
pub(crate) fn threads(
    sel: &Selected,
    hits: &[usize],
    algorithm: &ThreadAlgorithm<'_>,
    uid: bool,
) -> Vec<Thread> {
    let keys = Keys::new(sel);
    let facts: Vec<Facts> = hits.iter().map(|&i| facts(sel, &keys, i)).collect();
    let number = |f: &Facts| {
        if uid {
            nz(sel.msgs[f.index].uid as usize)
        } else {
            nz(f.index + 1)
        }
    };
    match algorithm {
        ThreadAlgorithm::OrderedSubject => ordered_subject(&facts, number),
        ThreadAlgorithm::Refs => references(&facts, false, number),
        _ => references(&facts, true, number),
    }
}

/// ORDEREDSUBJECT (RFC 5256 §3): messages grouped by base subject, each group's earliest the
/// parent of the others; threads in the order of their first message.
fn ordered_subject(
    facts: &[Facts],
    number: impl Fn(&Facts) -> std::num::NonZeroU32,
) -> Vec<Thread> {
    let mut order: Vec<&Facts> = facts.iter().collect();
    order.sort_by(|a, b| a.subject.cmp(&b.subject).then(a.date.cmp(&b.date)));
    let mut groups: Vec<Vec<&Facts>> = Vec::new();
    for f in order {
        match groups.last_mut() {
            Some(g) if g[0].subject == f.subject => g.push(f),
            _ => groups.push(vec![f]),
        }
    }
    groups.sort_by_key(|g| g[0].date);
    groups
        .into_iter()
        .filter_map(|g| {
            let children = g[1..]
                .iter()
                .filter_map(|f| Thread::node(Some(number(f)), Vec::new()))
                .collect();
            Thread::node(Some(number(g[0])), children)
        })
        .collect()
}

/// REFERENCES (RFC 5256 §3), or with `by_subject == false` Dovecot's REFS: no gathering by
/// subject, and threads ordered by their latest message.
#[allow(clippy::too_many_lines)]
fn references(
    facts: &[Facts],
    by_subject: bool,
    number: impl Fn(&Facts) -> std::num::NonZeroU32,
) -> Vec<Thread> {
    let mut forest = Forest {
        nodes: Vec::with_capacity(facts.len() * 2),
    };
    let mut ids: HashMap<&str, usize> = HashMap::with_capacity(facts.len() * 2);
    // (1) Containers for the messages; a missing or repeated Message-ID gets a container of
    // its own that no reference can reach.
    for (k, f) in facts.iter().enumerate() {
        let node = match f.message_id.as_deref() {
            Some(id) => match ids.get(id) {
                Some(&n) if forest.nodes[n].msg.is_none() => {
                    forest.nodes[n].msg = Some(k);
                    n
                }
                Some(_) => forest.new_node(Some(k)),
                None => {
                    let n = forest.new_node(Some(k));
                    ids.insert(id, n);
                    n
                }
            },
            None => forest.new_node(Some(k)),
        };
        // (1A) Each reference the parent of the next, keeping links already made.
        let mut prev: Option<usize> = None;
        for r in &f.references {
            let n = match ids.get(r.as_str()) {
                Some(&n) => n,
                None => {
                    let n = forest.new_node(None);
                    ids.insert(r.as_str(), n);
                    n
                }
            };
            if let Some(p) = prev
                && forest.nodes[n].parent.is_none()
                && p != n
            {
                forest.link(p, n);
            }
            prev = Some(n);
        }
        // (1B) The last reference is the parent; a message without references has none.
        forest.unlink(node);
        if let Some(p) = prev
            && p != node
        {
            forest.link(p, node);
        }
    }
    // (2) The root set.
    let root = forest.new_node(None);
    let roots: Vec<usize> = (0..root)
        .filter(|&n| forest.nodes[n].parent.is_none())
        .collect();
    for &n in &roots {
        forest.nodes[n].parent = Some(root);
    }
    forest.nodes[root].children = roots;
    // (4) Prune dummies: none without children; the children of others move up a level,
    // except to the root unless there is only one.
    let mut work = vec![root];
    while let Some(p) = work.pop() {
        let mut queue: std::collections::VecDeque<usize> =
            std::mem::take(&mut forest.nodes[p].children).into();
        let mut kept = Vec::with_capacity(queue.len());
        while let Some(c) = queue.pop_front() {
            let dummy = forest.nodes[c].msg.is_none();
            let n = forest.nodes[c].children.len();
            if dummy && n == 0 {
                continue;
            }
            if dummy && (p != root || n == 1) {
                let grand = std::mem::take(&mut forest.nodes[c].children);
                for &g in grand.iter().rev() {
                    forest.nodes[g].parent = Some(p);
                    queue.push_front(g);
                }
                continue;
            }
            kept.push(c);
        }
        work.extend(kept.iter().copied());
        forest.nodes[p].children = kept;
    }
    // (5) Gather the roots by base subject.
    if by_subject {
        let subject_of = |forest: &Forest, n: usize| -> Option<(usize, bool)> {
            let node = &forest.nodes[n];
            let m = match node.msg {
                Some(m) => m,
                None => forest.nodes[*node.children.first()?].msg?,
            };
            (!facts[m].subject.is_empty()).then_some((m, facts[m].reply))
        };
        let is_dummy = |forest: &Forest, n: usize| forest.nodes[n].msg.is_none();
        let roots = forest.nodes[root].children.clone();
        let mut table: HashMap<&str, usize> = HashMap::new();
        for &r in &roots {
            let Some((m, reply)) = subject_of(&forest, r) else {
                continue;
            };
            let subject = facts[m].subject.as_str();
            match table.get(subject) {
                None => {
                    table.insert(subject, r);
                }
                Some(&old) => {
                    let old_reply = subject_of(&forest, old).is_some_and(|(_, r)| r);
                    if (!is_dummy(&forest, old) && is_dummy(&forest, r))
                        || (old_reply && !reply && !is_dummy(&forest, old))
                    {
                        table.insert(subject, r);
                    }
                }
            }
        }
        for &r in &roots {
            let Some((m, reply)) = subject_of(&forest, r) else {
                continue;
            };
            let subject = facts[m].subject.as_str();
            let Some(&t) = table.get(subject) else {
                continue;
            };
            if t == r {
                continue;
            }
            let (t_dummy, r_dummy) = (is_dummy(&forest, t), is_dummy(&forest, r));
            let t_reply = !t_dummy && subject_of(&forest, t).is_some_and(|(_, r)| r);
            forest.unlink(r);
            if t_dummy && r_dummy {
                for c in std::mem::take(&mut forest.nodes[r].children) {
                    forest.nodes[c].parent = None;
                    forest.link(t, c);
                }
            } else if t_dummy {
                forest.link(t, r);
            } else if r_dummy {
                forest.unlink(t);
                forest.link(r, t);
                forest.link(root, r);
                table.insert(subject, r);
            } else if reply && !t_reply {
                forest.link(t, r);
            } else if t_reply && !reply {
                forest.unlink(t);
                forest.link(r, t);
                forest.link(root, r);
                table.insert(subject, r);
            } else {
                let d = forest.new_node(None);
                forest.unlink(t);
                forest.link(root, d);
                forest.link(d, t);
                forest.link(d, r);
                table.insert(subject, d);
            }
        }
    }
    // (6) Siblings by sent date, deepest first: a dummy sorts as its first child.
    let mut order = Vec::with_capacity(forest.nodes.len());
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        order.push(n);
        stack.extend(forest.nodes[n].children.iter().copied());
    }
    let mut key: Vec<(i64, usize)> = vec![(i64::MAX, usize::MAX); forest.nodes.len()];
    // The latest date under each node (REFS orders threads by it).
    let mut latest: Vec<(i64, usize)> = vec![(i64::MIN, 0); forest.nodes.len()];
    for &n in order.iter().rev() {
        let mut children = std::mem::take(&mut forest.nodes[n].children);
        children.sort_by_key(|&c| key[c]);
        key[n] = match forest.nodes[n].msg {
            Some(m) => facts[m].date,
            None => children.first().map_or((i64::MAX, usize::MAX), |&c| key[c]),
        };
        latest[n] = children
            .iter()
            .map(|&c| latest[c])
            .chain(forest.nodes[n].msg.map(|m| facts[m].date))
            .max()
            .unwrap_or((i64::MIN, 0));
        forest.nodes[n].children = children;
    }
    if !by_subject {
        forest.nodes[root].children.sort_by_key(|&c| latest[c]);
    }
    // The thread lists, children before parents.
    let mut built: Vec<Option<Thread>> = (0..forest.nodes.len()).map(|_| None).collect();
    for &n in order.iter().rev() {
        if n == root {
            continue;
        }
        let children: Vec<Thread> = forest.nodes[n]
            .children
            .iter()
            .filter_map(|&c| built[c].take())
            .collect();
        built[n] = Thread::node(forest.nodes[n].msg.map(|m| number(&facts[m])), children);
    }
    forest.nodes[root]
        .children
        .iter()
        .filter_map(|&c| built[c].take())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use proptest::prelude::*;

    use super::{Facts, msg_ids, ordered_subject, references};

    fn facts() -> impl Strategy<Value = Vec<Facts>> {
        let one = (
            proptest::option::of(0u8..12),
            proptest::collection::vec(0u8..12, 0..5),
            0u8..4,
            any::<bool>(),
            0i64..5,
        );
        proptest::collection::vec(one, 0..30).prop_map(|v| {
            v.into_iter()
                .enumerate()
                .map(|(index, (id, refs, subject, reply, date))| Facts {
                    index,
                    date: (date, index),
                    subject: if subject == 0 {
                        String::new()
                    } else {
                        format!("S{subject}")
                    },
                    reply,
                    message_id: id.map(|i| format!("{i}@x")),
                    references: refs.into_iter().map(|r| format!("{r}@x")).collect(),
                })
                .collect()
        })
    }

    fn number(f: &Facts) -> NonZeroU32 {
        NonZeroU32::new(u32::try_from(f.index + 1).unwrap()).unwrap()
    }

    proptest! {
        /// Whatever the references (loops, duplicates, missing parents), every message is in
        /// exactly one thread, once.
        #[test]
        fn every_message_appears_once(facts in facts()) {
            let want: Vec<u32> = (1..=u32::try_from(facts.len()).unwrap()).collect();
            for threads in [
                references(&facts, true, number),
                references(&facts, false, number),
                ordered_subject(&facts, number),
            ] {
                let mut got: Vec<u32> = threads
                    .iter()
                    .flat_map(mailwright_imap_proto::types::sort::Thread::messages)
                    .map(NonZeroU32::get)
                    .collect();
                got.sort_unstable();
                prop_assert_eq!(&got, &want);
            }
        }

        #[test]
        fn base_subject_and_msg_ids_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let (s, _) = super::super::sort::base_subject(&data);
            prop_assert!(!s.ends_with(' ') && !s.starts_with(' '));
            let _ = msg_ids(&data);
        }
    }

    #[test]
    fn a_long_chain_and_a_wide_fan_need_no_deep_stack() {
        let chain: Vec<Facts> = (0..50_000)
            .map(|i| Facts {
                index: i,
                date: (0, i),
                subject: "S".into(),
                reply: i > 0,
                message_id: Some(format!("{i}@x")),
                references: if i == 0 {
                    Vec::new()
                } else {
                    vec![format!("{}@x", i - 1)]
                },
            })
            .collect();
        // Run where the stack is small, as on a server thread.
        let t = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                let threads = references(&chain, true, number);
                assert_eq!(threads.len(), 1);
                assert_eq!(threads[0].members().len(), 50_000);
                assert!(threads[0].children().is_empty());
                let fan: Vec<Facts> = (0..50_000)
                    .map(|i| Facts {
                        references: if i == 0 {
                            Vec::new()
                        } else {
                            vec!["0@x".into()]
                        },
                        ..chain[i].clone()
                    })
                    .collect();
                let threads = references(&fan, false, number);
                assert_eq!(threads[0].children().len(), 49_999);
            })
            .unwrap();
        t.join().unwrap();
    }

    #[test]
    fn message_ids_are_bracketed_with_an_at() {
        assert_eq!(
            msg_ids(b"<a@b> junk <c@d>\r\n <no-at> <e @ f>"),
            ["a@b", "c@d", "e@f"]
        );
        assert!(msg_ids(b"<a@b").is_empty());
    }
}
