//! The server's resolver against the test DNS server: MX order, implicit MX, null MX, NXDOMAIN,
//! TXT and A lookups, all offline.

#[path = "../testsupport/dns.rs"]
mod dns_server;

use mailwright::core::config::DnsConfig;
use mailwright::core::dns::{Dns, DnsError, MxRoute};

fn resolver(server: &dns_server::DnsServer) -> Dns {
    Dns::new(&DnsConfig {
        nameservers: vec![server.addr()],
        timeout_secs: 2,
    })
    .unwrap()
}

#[tokio::test]
async fn mx_routes_and_records() {
    let server = dns_server::DnsServer::start();
    server.mx("remote.test", 20, "backup.remote.test");
    server.mx("remote.test", 10, "mx.remote.test");
    server.a("mx.remote.test", "127.0.0.1".parse().unwrap());
    server.a("plain.test", "127.0.0.2".parse().unwrap());
    server.mx("nomail.test", 0, ".");
    server.txt("remote.test", "v=spf1 ip4:127.0.0.1 -all");
    let dns = resolver(&server);
    assert_eq!(
        dns.mx("remote.test").await.unwrap(),
        MxRoute::Hosts(vec!["mx.remote.test".into(), "backup.remote.test".into()])
    );
    assert_eq!(
        dns.mx("plain.test").await.unwrap(),
        MxRoute::Hosts(vec!["plain.test".into()])
    );
    assert_eq!(dns.mx("nomail.test").await.unwrap(), MxRoute::NullMx);
    assert!(matches!(
        dns.mx("absent.test").await,
        Err(DnsError::NoDomain(_))
    ));
    assert_eq!(
        dns.addresses("mx.remote.test").await.unwrap(),
        vec!["127.0.0.1".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(
        dns.txt("remote.test").await.unwrap(),
        vec!["v=spf1 ip4:127.0.0.1 -all".to_owned()]
    );
    assert!(dns.ipv4("2.0.0.127.bl.test").await.unwrap().is_empty());
}
