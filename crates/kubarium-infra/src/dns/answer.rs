//! Answering one query from the table: what the server replies, or that the query goes to the
//! upstream. Pure: bytes in, bytes out, so every answer kind is tested without a socket.
//!
//! The reply copies the id and RD, sets QR and RA, echoes the question as sent (so its case),
//! and carries an OPT record when the query had one. A UDP reply larger than the client can
//! take (512 bytes, or its EDNS payload size up to [`EDNS_PAYLOAD`]) loses its additional
//! records first and then, still too large, is sent with TC and the question only.
//!
//! A CNAME whose chain leaves the table (an ExternalName Service) is completed as CoreDNS
//! does: the target's A/AAAA records are asked of the upstream and appended ([`Chase`]), since
//! stub resolvers (glibc, musl) do not follow a CNAME by themselves.

use std::cell::Cell;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{SystemTime, UNIX_EPOCH};

use super::config::{Node, Zone};
use super::wire::{Header, Message, Name, Question, RData, Record, Writer, flag, rcode, rtype};

/// The UDP payload size this server offers and the most it sends (RFC 9715's safe size).
pub(crate) const EDNS_PAYLOAD: u16 = 1232;
/// A UDP reply's limit without EDNS (RFC 1035 §4.2.1).
const CLASSIC_UDP: usize = 512;
/// CNAMEs followed within the table before giving up (a loop, or a very long chain).
const MAX_CHAIN: usize = 8;
/// EDNS's extended rcode BADVERS (16), as the OPT record's TTL carries it.
const BADVERS_TTL: u32 = 1 << 24;

/// How the query arrived, which decides how large a reply may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Udp,
    Tcp,
}

/// What to do with a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Send these bytes back.
    Reply(Vec<u8>),
    /// Not ours: send the query unchanged to this upstream and relay its answer.
    Forward(SocketAddr),
    /// Ours, ending in a CNAME to an outside name: ask the upstream for the rest.
    Chase(Box<Chase>),
    /// Not even a query header (or a response): say nothing.
    Ignore,
}

/// The sections of a locally made answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Answer {
    rcode: u8,
    authoritative: bool,
    answers: Vec<Record>,
    authority: Vec<Record>,
    additional: Vec<Record>,
}

/// Answers `query` from `zone`.
pub(crate) fn respond(zone: &Zone, query: &[u8], transport: Transport) -> Outcome {
    let Some(header) = Header::parse(query) else {
        return Outcome::Ignore;
    };
    if header.has(flag::QR) {
        return Outcome::Ignore;
    }
    if header.opcode() != 0 {
        return Outcome::Reply(bare(&header, rcode::NOTIMP));
    }
    let message = match Message::parse(query) {
        Ok(message) if message.questions.len() == 1 => message,
        _ => return Outcome::Reply(bare(&header, rcode::FORMERR)),
    };
    let question = &message.questions[0];
    let opt = message.opt();
    let limit = match (transport, opt) {
        (Transport::Tcp, _) => usize::from(u16::MAX),
        (Transport::Udp, None) => CLASSIC_UDP,
        (Transport::Udp, Some(opt)) => usize::from(opt.class.clamp(512, EDNS_PAYLOAD)),
    };
    let edns_version = opt.map(|opt| (opt.ttl >> 16) & 0xff);
    if edns_version.is_some_and(|version| version != 0) {
        let answer = Answer::default();
        return Outcome::Reply(encode(&header, question, &answer, Some(BADVERS_TTL), limit));
    }
    let opt_ttl = edns_version.map(|_| 0);
    match (resolve(zone, question), zone.upstream) {
        (Some((answer, Some(target))), Some(upstream)) => Outcome::Chase(Box::new(Chase {
            upstream,
            query: chase_query(header.id, target, question.qtype),
            header,
            question: question.clone(),
            answer,
            opt_ttl,
            limit,
        })),
        (Some((answer, _)), _) => {
            Outcome::Reply(encode(&header, question, &answer, opt_ttl, limit))
        }
        (None, Some(upstream)) => Outcome::Forward(upstream),
        (None, None) => Outcome::Reply(failure(query, rcode::SERVFAIL).unwrap_or_default()),
    }
}

/// A reply with `code` and no records, echoing the query's question when it has one readable:
/// the SERVFAIL sent when the upstream does not answer.
pub(crate) fn failure(query: &[u8], code: u8) -> Option<Vec<u8>> {
    let header = Header::parse(query)?;
    let answer = Answer {
        rcode: code,
        ..Answer::default()
    };
    Some(match Message::parse(query) {
        Ok(message) if message.questions.len() == 1 => encode(
            &header,
            &message.questions[0],
            &answer,
            message.opt().map(|_| 0),
            CLASSIC_UDP,
        ),
        _ => bare(&header, code),
    })
}

/// A local answer waiting for the upstream's records of the outside name its CNAME chain
/// ends at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chase {
    pub(crate) upstream: SocketAddr,
    /// The question for the outside name, to send to `upstream`.
    pub(crate) query: Vec<u8>,
    header: Header,
    question: Question,
    answer: Answer,
    opt_ttl: Option<u32>,
    limit: usize,
}

impl Chase {
    /// The reply: the local CNAMEs plus the upstream's A, AAAA and CNAME answers (the CNAMEs
    /// alone when the upstream gave none).
    pub(crate) fn finish(mut self, upstream_reply: Option<&[u8]>) -> Vec<u8> {
        let id = u16::from_be_bytes([self.query[0], self.query[1]]);
        let reply = upstream_reply
            .and_then(|bytes| Message::parse(bytes).ok())
            .filter(|reply| reply.header.id == id && reply.header.has(flag::QR));
        if let Some(reply) = reply {
            if reply.header.rcode() == rcode::NXDOMAIN {
                // RFC 6604: the rcode speaks for the last name of the chain.
                self.answer.rcode = rcode::NXDOMAIN;
            }
            self.answer
                .answers
                .extend(reply.answers.into_iter().filter(|record| {
                    record.class == rtype::CLASS_IN
                        && matches!(record.rtype, rtype::A | rtype::AAAA | rtype::CNAME)
                }));
        }
        encode(
            &self.header,
            &self.question,
            &self.answer,
            self.opt_ttl,
            self.limit,
        )
    }
}

/// A recursive query for `name`, with EDNS so a long answer fits in one datagram.
fn chase_query(id: u16, name: Name, qtype: u16) -> Vec<u8> {
    let header = Header {
        // Not the client's id: a reply to the client's own query must not be taken for it.
        id: id ^ (next_random() as u16 | 1),
        flags: flag::RD,
        qdcount: 1,
        arcount: 1,
        ..Header::default()
    };
    let mut writer = Writer::new(&header);
    writer.question(&Question {
        name,
        qtype,
        qclass: rtype::CLASS_IN,
    });
    writer.record(&Record {
        name: Name::default(),
        rtype: rtype::OPT,
        class: EDNS_PAYLOAD,
        ttl: 0,
        data: RData::Other(Vec::new()),
    });
    writer.finish()
}

/// The local answer for `question`, or `None` when it belongs to the upstream. With it, the
/// outside name to chase when the answer is a CNAME chain leaving the table.
fn resolve(zone: &Zone, question: &Question) -> Option<(Answer, Option<Name>)> {
    let key = question.name.key();
    // Records exist in class IN only; another class finds the name but no data.
    let qtype = if matches!(question.qclass, rtype::CLASS_IN | rtype::CLASS_ANY) {
        question.qtype
    } else {
        0
    };
    let mut answer = Answer {
        authoritative: true,
        ..Answer::default()
    };
    if let Some(target) = zone.reverse.get(&key) {
        if matches!(qtype, rtype::PTR | rtype::ANY) {
            answer.answers.push(record(
                zone,
                question.name.clone(),
                rtype::PTR,
                RData::Ptr(Name::from_text(target)),
            ));
        }
    } else if zone.names.contains_key(&key) {
        answer.answers = records(zone, &question.name, &key, qtype);
        answer.additional = srv_addresses(zone, &answer.answers);
    } else if zone.domain.as_deref() == Some(key.as_str()) {
        if matches!(qtype, rtype::SOA | rtype::ANY) {
            answer.answers.extend(soa(zone));
        }
    } else if zone.parents.contains(&key) {
        // An empty non-terminal: the name exists, with no data.
    } else if zone.is_authoritative_for(&key) {
        answer.rcode = rcode::NXDOMAIN;
    } else {
        return None;
    }
    if answer.answers.is_empty() && zone.is_authoritative_for(&key) {
        // Negative answers carry the SOA, whose minimum tells caches how long to remember.
        answer.authority.extend(soa(zone));
    }
    let chase = match answer.answers.last().map(|record| &record.data) {
        Some(RData::Cname(target))
            if matches!(qtype, rtype::A | rtype::AAAA)
                && !zone.names.contains_key(&target.key())
                && !zone.is_authoritative_for(&target.key()) =>
        {
            Some(target.clone())
        }
        _ => None,
    };
    Some((answer, chase))
}

/// The answers for a name in the table, following CNAMEs that lead to other table names.
fn records(zone: &Zone, name: &Name, key: &str, qtype: u16) -> Vec<Record> {
    let mut answers = Vec::new();
    let mut owner = name.clone();
    let mut key = key.to_string();
    let mut visited = Vec::new();
    while visited.len() < MAX_CHAIN && !visited.contains(&key) {
        let Some(node) = zone.names.get(&key) else {
            break;
        };
        visited.push(key.clone());
        if let Some(target) = &node.cname {
            let target_name = Name::from_text(target);
            answers.push(record(
                zone,
                owner,
                rtype::CNAME,
                RData::Cname(target_name.clone()),
            ));
            if matches!(qtype, rtype::CNAME | rtype::ANY) {
                break;
            }
            owner = target_name;
            key.clone_from(target);
            continue;
        }
        answers.extend(node_records(zone, node, &owner, qtype));
        break;
    }
    answers
}

/// A node's own records of `qtype` (all of them for ANY), A records shuffled.
fn node_records(zone: &Zone, node: &Node, owner: &Name, qtype: u16) -> Vec<Record> {
    let mut records = Vec::new();
    if matches!(qtype, rtype::A | rtype::ANY) {
        let mut addresses = node.a.clone();
        shuffle(&mut addresses);
        records.extend(
            addresses
                .into_iter()
                .map(|ip| record(zone, owner.clone(), rtype::A, RData::A(ip))),
        );
    }
    if matches!(qtype, rtype::SRV | rtype::ANY) {
        records.extend(node.srv.iter().map(|srv| {
            record(
                zone,
                owner.clone(),
                rtype::SRV,
                RData::Srv {
                    priority: srv.priority,
                    weight: srv.weight,
                    port: srv.port,
                    target: Name::from_text(&srv.target),
                },
            )
        }));
    }
    records
}

/// The A records of SRV targets in the table, for the additional section (saves the client a
/// query per target, as CoreDNS does).
fn srv_addresses(zone: &Zone, answers: &[Record]) -> Vec<Record> {
    let mut additional = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for answer in answers {
        if let RData::Srv { target, .. } = &answer.data {
            let key = target.key();
            if seen.contains(&key) {
                continue;
            }
            if let Some(node) = zone.names.get(&key) {
                additional.extend(node_records(zone, node, target, rtype::A));
            }
            seen.push(key);
        }
    }
    additional
}

fn soa(zone: &Zone) -> Option<Record> {
    let domain = zone.domain.as_deref()?;
    Some(record(
        zone,
        Name::from_text(domain),
        rtype::SOA,
        RData::Soa {
            mname: Name::from_text(&format!("ns.dns.{domain}")),
            rname: Name::from_text(&format!("hostmaster.{domain}")),
            serial: 1,
            refresh: 7200,
            retry: 1800,
            expire: 86400,
            minimum: zone.ttl,
        },
    ))
}

fn record(zone: &Zone, name: Name, rtype: u16, data: RData) -> Record {
    Record {
        name,
        rtype,
        class: rtype::CLASS_IN,
        ttl: zone.ttl,
        data,
    }
}

/// A reply without a question section: for queries too broken to echo.
fn bare(query: &Header, code: u8) -> Vec<u8> {
    let header = Header {
        id: query.id,
        flags: reply_flags(query, false, code),
        ..Header::default()
    };
    Writer::new(&header).finish()
}

fn reply_flags(query: &Header, authoritative: bool, code: u8) -> u16 {
    let mut flags = flag::QR | flag::RA | (query.flags & (flag::RD | 0x7800)) | u16::from(code);
    if authoritative {
        flags |= flag::AA;
    }
    flags
}

/// Writes the reply, fitting it into `limit` bytes. `opt_ttl` is the OPT record's TTL when the
/// query had one (so the reply has one too).
fn encode(
    query: &Header,
    question: &Question,
    answer: &Answer,
    opt_ttl: Option<u32>,
    limit: usize,
) -> Vec<u8> {
    let opt = opt_ttl.map(|ttl| Record {
        name: Name::default(),
        rtype: rtype::OPT,
        class: EDNS_PAYLOAD,
        ttl,
        data: RData::Other(Vec::new()),
    });
    let write = |answers: &[Record], authority: &[Record], additional: &[Record], tc: bool| {
        let mut flags = reply_flags(query, answer.authoritative, answer.rcode);
        if tc {
            flags |= flag::TC;
        }
        let count = |records: &[Record]| u16::try_from(records.len()).unwrap_or(u16::MAX);
        let header = Header {
            id: query.id,
            flags,
            qdcount: 1,
            ancount: count(answers),
            nscount: count(authority),
            arcount: count(additional) + u16::from(opt.is_some()),
        };
        let mut writer = Writer::new(&header);
        writer.question(question);
        for record in answers.iter().chain(authority).chain(additional) {
            writer.record(record);
        }
        if let Some(opt) = &opt {
            writer.record(opt);
        }
        writer
    };
    let full = write(
        &answer.answers,
        &answer.authority,
        &answer.additional,
        false,
    );
    if full.len() <= limit {
        return full.finish();
    }
    let lean = write(&answer.answers, &answer.authority, &[], false);
    if lean.len() <= limit {
        return lean.finish();
    }
    write(&[], &[], &[], true).finish()
}

thread_local! {
    static XORSHIFT: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos() as u64);
    let local = 0u8;
    // The stack address differs per thread: threads started in the same nanosecond differ.
    (nanos ^ (&local as *const u8 as u64).rotate_left(32)) | 1
}

fn next_random() -> u64 {
    XORSHIFT.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        x
    })
}

/// Fisher-Yates with xorshift64: answers only need to spread clients, not to be unguessable.
fn shuffle(addresses: &mut [Ipv4Addr]) {
    for i in (1..addresses.len()).rev() {
        addresses.swap(i, (next_random() % (i as u64 + 1)) as usize);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::config::reverse_name;
    use crate::dns::wire::tests::query;

    const CONFIG: &str = "# kubarium dns v1
domain cluster.local
upstream 127.0.0.11
ttl 5
a web.default.svc.cluster.local 172.18.128.7
a web-0.web.default.svc.cluster.local 172.18.0.5
a headless.default.svc.cluster.local 172.18.0.5
a headless.default.svc.cluster.local 172.18.0.6
a headless.default.svc.cluster.local 172.18.0.7
a headless.default.svc.cluster.local 172.18.0.8
cname db.default.svc.cluster.local db.example.com
cname alias.default.svc.cluster.local web.default.svc.cluster.local
cname loop1.default.svc.cluster.local loop2.default.svc.cluster.local
cname loop2.default.svc.cluster.local loop1.default.svc.cluster.local
srv _http._tcp.web.default.svc.cluster.local 0 100 80 web.default.svc.cluster.local
";

    fn zone() -> Zone {
        Zone::parse(CONFIG).unwrap()
    }

    fn ask(zone: &Zone, name: &str, qtype: u16) -> Message {
        reply(zone, &query(0xbeef, name, qtype, None), Transport::Udp)
    }

    fn reply(zone: &Zone, query: &[u8], transport: Transport) -> Message {
        match respond(zone, query, transport) {
            Outcome::Reply(bytes) => Message::parse(&bytes).unwrap(),
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    fn addresses(message: &Message) -> Vec<Ipv4Addr> {
        message
            .answers
            .iter()
            .filter_map(|record| match record.data {
                RData::A(ip) => Some(ip),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_records_answer_with_the_question_echoed() {
        let message = ask(&zone(), "WEB.default.SVC.cluster.local", rtype::A);
        let header = message.header;
        assert_eq!(header.id, 0xbeef);
        assert!(header.has(flag::QR) && header.has(flag::RA) && header.has(flag::RD));
        assert!(header.has(flag::AA) && !header.has(flag::TC));
        assert_eq!(header.rcode(), rcode::NOERROR);
        assert_eq!(message.questions[0].name.labels()[0], b"WEB");
        assert_eq!(message.answers.len(), 1);
        // The owner echoes the question's case.
        assert_eq!(message.answers[0].name, message.questions[0].name);
        assert_eq!(message.answers[0].ttl, 5);
        assert_eq!(addresses(&message), [Ipv4Addr::new(172, 18, 128, 7)]);
    }

    #[test]
    fn several_a_records_come_in_varying_order() {
        let zone = zone();
        let mut orders = std::collections::HashSet::new();
        for _ in 0..50 {
            let found = addresses(&ask(&zone, "headless.default.svc.cluster.local", rtype::A));
            assert_eq!(found.len(), 4);
            orders.insert(found);
        }
        assert!(orders.len() > 1, "the order never changed");
    }

    #[test]
    fn cname_to_a_table_name_brings_its_a_records() {
        let message = ask(&zone(), "alias.default.svc.cluster.local", rtype::A);
        assert_eq!(message.answers.len(), 2);
        assert_eq!(
            message.answers[0].data,
            RData::Cname(Name::from_text("web.default.svc.cluster.local"))
        );
        assert_eq!(
            message.answers[1].name,
            Name::from_text("web.default.svc.cluster.local")
        );
        assert_eq!(addresses(&message), [Ipv4Addr::new(172, 18, 128, 7)]);
    }

    #[test]
    fn cname_to_an_outside_name_without_upstream_is_the_cname_alone() {
        let mut zone = zone();
        zone.upstream = None;
        let message = ask(&zone, "db.default.svc.cluster.local", rtype::A);
        assert_eq!(message.header.rcode(), rcode::NOERROR);
        assert_eq!(
            message.answers.iter().map(|r| &r.data).collect::<Vec<_>>(),
            [&RData::Cname(Name::from_text("db.example.com"))]
        );
        let cname = ask(&zone, "db.default.svc.cluster.local", rtype::CNAME);
        assert_eq!(cname.answers.len(), 1);
    }

    fn chase(zone: &Zone, name: &str, qtype: u16) -> Chase {
        match respond(zone, &query(0xbeef, name, qtype, None), Transport::Udp) {
            Outcome::Chase(chase) => *chase,
            other => panic!("expected a chase, got {other:?}"),
        }
    }

    #[test]
    fn cname_to_an_outside_name_asks_the_upstream_for_the_rest() {
        let zone = zone();
        let chase = chase(&zone, "DB.default.svc.cluster.local", rtype::A);
        assert_eq!(chase.upstream, "127.0.0.11:53".parse().unwrap());
        let asked = Message::parse(&chase.query).unwrap();
        assert_ne!(asked.header.id, 0xbeef);
        assert!(asked.header.has(flag::RD));
        assert_eq!(asked.questions[0].name, Name::from_text("db.example.com"));
        assert_eq!(asked.questions[0].qtype, rtype::A);
        // The upstream's answer: another CNAME, then the address.
        let mut upstream = Writer::new(&Header {
            id: asked.header.id,
            flags: flag::QR | flag::RD | flag::RA,
            qdcount: 1,
            ancount: 3,
            ..Header::default()
        });
        upstream.question(&asked.questions[0]);
        let outside = |name: &str, rtype: u16, data: RData| Record {
            name: Name::from_text(name),
            rtype,
            class: rtype::CLASS_IN,
            ttl: 300,
            data,
        };
        for record in [
            outside(
                "db.example.com",
                rtype::CNAME,
                RData::Cname(Name::from_text("db.example.net")),
            ),
            outside(
                "db.example.net",
                rtype::A,
                RData::A(Ipv4Addr::new(192, 0, 2, 1)),
            ),
            outside("db.example.net", rtype::NS, RData::Other(vec![0])),
        ] {
            upstream.record(&record);
        }
        let reply = Message::parse(&chase.clone().finish(Some(&upstream.finish()))).unwrap();
        assert_eq!(reply.header.id, 0xbeef);
        assert_eq!(reply.header.rcode(), rcode::NOERROR);
        assert_eq!(reply.questions[0].name.labels()[0], b"DB");
        let types: Vec<u16> = reply.answers.iter().map(|r| r.rtype).collect();
        assert_eq!(types, [rtype::CNAME, rtype::CNAME, rtype::A]);
        assert_eq!(addresses(&reply), [Ipv4Addr::new(192, 0, 2, 1)]);
        assert_eq!(reply.answers[2].ttl, 300);
        // No answer from the upstream, or one to another query: the CNAME alone.
        for upstream_reply in [None, Some(&query(1, "x", rtype::A, None)[..])] {
            let reply = Message::parse(&chase.clone().finish(upstream_reply)).unwrap();
            assert_eq!(reply.answers.len(), 1);
            assert_eq!(reply.header.rcode(), rcode::NOERROR);
        }
        // SRV, TXT and the like are not chased.
        assert!(matches!(
            respond(
                &zone,
                &query(1, "db.default.svc.cluster.local", rtype::SRV, None),
                Transport::Udp
            ),
            Outcome::Reply(_)
        ));
    }

    #[test]
    fn cname_loops_end() {
        let message = ask(&zone(), "loop1.default.svc.cluster.local", rtype::A);
        assert_eq!(message.answers.len(), 2);
    }

    #[test]
    fn srv_answers_with_the_targets_addresses() {
        let message = ask(
            &zone(),
            "_http._tcp.web.default.svc.cluster.local",
            rtype::SRV,
        );
        assert_eq!(
            message.answers[0].data,
            RData::Srv {
                priority: 0,
                weight: 100,
                port: 80,
                target: Name::from_text("web.default.svc.cluster.local"),
            }
        );
        assert_eq!(message.additional.len(), 1);
        assert_eq!(
            message.additional[0].data,
            RData::A(Ipv4Addr::new(172, 18, 128, 7))
        );
    }

    #[test]
    fn ptr_answers_the_first_name_of_an_address() {
        let zone = zone();
        let message = ask(
            &zone,
            &reverse_name(Ipv4Addr::new(172, 18, 0, 5)),
            rtype::PTR,
        );
        assert!(message.header.has(flag::AA));
        assert_eq!(
            message.answers[0].data,
            RData::Ptr(Name::from_text("web-0.web.default.svc.cluster.local"))
        );
        // An address nobody configured is not ours.
        assert_eq!(
            respond(
                &zone,
                &query(1, "9.9.9.9.in-addr.arpa", rtype::PTR, None),
                Transport::Udp
            ),
            Outcome::Forward("127.0.0.11:53".parse().unwrap())
        );
    }

    #[test]
    fn other_types_of_known_names_are_nodata() {
        let zone = zone();
        for (name, qtype) in [
            ("web.default.svc.cluster.local", rtype::AAAA),
            ("web.default.svc.cluster.local", rtype::NS),
            ("svc.cluster.local", rtype::A),
            ("default.svc.cluster.local", rtype::A),
            ("cluster.local", rtype::A),
        ] {
            let message = ask(&zone, name, qtype);
            assert_eq!(message.header.rcode(), rcode::NOERROR, "{name}");
            assert!(message.header.has(flag::AA), "{name}");
            assert!(message.answers.is_empty(), "{name}");
            assert_eq!(message.authority[0].rtype, rtype::SOA, "{name}");
        }
        let soa = ask(&zone, "cluster.local", rtype::SOA);
        assert_eq!(soa.answers[0].rtype, rtype::SOA);
    }

    #[test]
    fn unknown_names_under_the_domain_are_nxdomain() {
        let zone = zone();
        for name in [
            "nope.default.svc.cluster.local",
            "web.default.svc.cluster.local.default.svc.cluster.local",
            "google.com.cluster.local",
        ] {
            let message = ask(&zone, name, rtype::A);
            assert_eq!(message.header.rcode(), rcode::NXDOMAIN, "{name}");
            assert!(message.header.has(flag::AA));
            match &message.authority[0].data {
                RData::Soa { minimum, .. } => assert_eq!(*minimum, 5),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn other_names_go_upstream_or_fail_without_one() {
        let zone = zone();
        let question = query(3, "example.com", rtype::A, None);
        assert_eq!(
            respond(&zone, &question, Transport::Udp),
            Outcome::Forward("127.0.0.11:53".parse().unwrap())
        );
        let message = reply(&Zone::default(), &question, Transport::Udp);
        assert_eq!(message.header.rcode(), rcode::SERVFAIL);
        assert_eq!(message.questions[0].name, Name::from_text("example.com"));
    }

    #[test]
    fn malformed_queries_are_formerr_and_non_queries_ignored() {
        let zone = zone();
        let mut broken = query(4, "web.default.svc.cluster.local", rtype::A, None);
        broken.truncate(20);
        let message = reply(&zone, &broken, Transport::Udp);
        assert_eq!(message.header.rcode(), rcode::FORMERR);
        assert_eq!(message.header.id, 4);
        assert!(message.questions.is_empty());
        // Two questions.
        let mut two = query(5, "a", rtype::A, None);
        two[5] = 2;
        assert_eq!(
            reply(&zone, &two, Transport::Udp).header.rcode(),
            rcode::FORMERR
        );
        // Not a header; a response; another opcode.
        assert_eq!(respond(&zone, &[1, 2, 3], Transport::Udp), Outcome::Ignore);
        let mut response = query(6, "a", rtype::A, None);
        response[2] |= 0x80;
        assert_eq!(respond(&zone, &response, Transport::Udp), Outcome::Ignore);
        let mut notify = query(7, "a", rtype::A, None);
        notify[2] |= 4 << 3;
        assert_eq!(
            reply(&zone, &notify, Transport::Udp).header.rcode(),
            rcode::NOTIMP
        );
    }

    /// A zone with enough addresses on one name to overflow 512 bytes.
    fn big_zone() -> Zone {
        let mut text = String::from("domain cluster.local\n");
        for i in 0..60 {
            text.push_str(&format!("a big.default.svc.cluster.local 10.0.0.{i}\n"));
        }
        Zone::parse(&text).unwrap()
    }

    #[test]
    fn large_udp_answers_are_truncated_without_edns() {
        let zone = big_zone();
        let plain = query(8, "big.default.svc.cluster.local", rtype::A, None);
        let message = reply(&zone, &plain, Transport::Udp);
        assert!(message.header.has(flag::TC));
        assert!(message.answers.is_empty());
        assert_eq!(message.questions.len(), 1);
        // Over TCP it all fits.
        let message = reply(&zone, &plain, Transport::Tcp);
        assert!(!message.header.has(flag::TC));
        assert_eq!(message.answers.len(), 60);
    }

    #[test]
    fn edns_raises_the_udp_limit_up_to_1232() {
        let zone = big_zone();
        let edns = query(9, "big.default.svc.cluster.local", rtype::A, Some(4096));
        let bytes = match respond(&zone, &edns, Transport::Udp) {
            Outcome::Reply(bytes) => bytes,
            other => panic!("{other:?}"),
        };
        // 60 compressed A records: 12 + 35 + 60 * 16 + 11 = 1018 bytes.
        assert!(bytes.len() > 512 && bytes.len() <= 1232, "{}", bytes.len());
        let message = Message::parse(&bytes).unwrap();
        assert!(!message.header.has(flag::TC));
        assert_eq!(message.answers.len(), 60);
        assert_eq!(message.opt().map(|opt| opt.class), Some(EDNS_PAYLOAD));
        // A payload size below 512 counts as 512.
        let small = query(9, "big.default.svc.cluster.local", rtype::A, Some(100));
        let message = reply(&zone, &small, Transport::Udp);
        assert!(message.header.has(flag::TC));
        assert!(message.opt().is_some());
    }

    #[test]
    fn unknown_edns_versions_are_badvers() {
        let mut bytes = query(10, "web.default.svc.cluster.local", rtype::A, Some(1232));
        let len = bytes.len();
        bytes[len - 5] = 1; // the OPT TTL's version byte
        let message = reply(&zone(), &bytes, Transport::Udp);
        assert_eq!(message.opt().map(|opt| opt.ttl), Some(BADVERS_TTL));
        assert!(message.answers.is_empty());
    }

    #[test]
    fn failure_echoes_the_question() {
        let bytes = query(11, "example.com", rtype::A, None);
        let message = Message::parse(&failure(&bytes, rcode::SERVFAIL).unwrap()).unwrap();
        assert_eq!(message.header.id, 11);
        assert_eq!(message.header.rcode(), rcode::SERVFAIL);
        assert!(!message.header.has(flag::AA));
        assert_eq!(message.questions.len(), 1);
        assert_eq!(failure(&[0; 4], rcode::SERVFAIL), None);
    }

    /// Garbage and mutated queries: never a panic, and every reply parses.
    #[test]
    fn mutated_queries_never_panic() {
        let zone = zone();
        let seeds = [
            query(1, "web.default.svc.cluster.local", rtype::A, Some(1232)),
            query(
                2,
                "_http._tcp.web.default.svc.cluster.local",
                rtype::SRV,
                None,
            ),
            query(3, "5.0.18.172.in-addr.arpa", rtype::PTR, None),
            query(4, "alias.default.svc.cluster.local", rtype::ANY, None),
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..20_000 {
            let mut bytes = seeds[round % seeds.len()].clone();
            for _ in 0..=(next() % 4) {
                let at = (next() as usize) % (bytes.len() + 1);
                match next() % 5 {
                    0 => bytes.truncate(at),
                    1 => bytes.insert(at, next() as u8),
                    2 if at < bytes.len() => bytes[at] = next() as u8,
                    3 if at < bytes.len() => bytes[at] ^= 0xc0,
                    _ => bytes.extend((0..next() % 8).map(|_| next() as u8)),
                }
            }
            // Queries only: a set QR bit would just be ignored.
            if bytes.len() > 2 {
                bytes[2] &= 0x7f;
            }
            for transport in [Transport::Udp, Transport::Tcp] {
                if let Outcome::Reply(reply) = respond(&zone, &bytes, transport) {
                    assert!(Message::parse(&reply).is_ok(), "round {round}: {bytes:?}");
                }
            }
        }
        for len in 0..64 {
            let garbage: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let _ = respond(&zone, &garbage, Transport::Udp);
        }
    }
}
